"""Ceiling of the broker alone: aio-pika confirmed publish + consume of 50 KB messages.

Uses the gateway's own topology (quorum queues, persistent messages, publisher confirms
with many in flight, consumer prefetch) in a fresh queue, so the figure is what RabbitMQ
and aio-pika can do for delivery tasks of the benchmark's size, without the gateway.

    python bench/broker_ceiling.py amqp://guest:guest@127.0.0.1:5672/ 2000
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

import aio_pika

MESSAGE_BYTES = 50 * 1024
IN_FLIGHT = 100
PREFETCH = 100


async def broker_ceiling(url: str, n: int) -> float:
    """Publish ``n`` 50 KB messages with confirms and consume them all; return messages/s."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=PREFETCH)
        queue = await channel.declare_queue(
            f"bench.{uuid.uuid4().hex[:8]}", durable=True, arguments={"x-queue-type": "quorum"}
        )
        body = b"x" * MESSAGE_BYTES
        received = 0
        done = asyncio.Event()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received >= n:
                done.set()

        semaphore = asyncio.Semaphore(IN_FLIGHT)

        async def publish(i: int) -> None:
            async with semaphore:
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        body, message_id=str(i), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                    ),
                    queue.name,
                )

        started = time.perf_counter()
        tag = await queue.consume(on_message)
        await asyncio.gather(*(publish(i) for i in range(n)))
        await asyncio.wait_for(done.wait(), timeout=max(60.0, n / 10))
        elapsed = time.perf_counter() - started
        await queue.cancel(tag)
        await queue.delete(if_unused=False, if_empty=False)
        return n / elapsed
    finally:
        await connection.close()


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "amqp://guest:guest@127.0.0.1:5672/"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    rate = asyncio.run(broker_ceiling(target, count))
    print(f"broker-ceiling: messages_per_s={rate:.0f} n={count} size={MESSAGE_BYTES}")
