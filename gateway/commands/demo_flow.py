"""`edoc-gateway demo`: one document's whole journey on this machine, printed step by step.

A gateway (SQLite store, real RabbitMQ: the configured one if it answers, else a private
node started here and stopped at the end), a push recipient (an HTTP server on loopback
that answers with statuses 01, 03, 05, 06) and a pull recipient (polls its inbox, fetches,
acknowledges, reports 03, 05, 06, then agrees to a recall with 15). Exit status 0 only when
every step was seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from yarl import URL

from edxml.build import build, new_document, status_message
from edxml.model import Business, BusinessDocType, Code, Organization, ResponseFor, StatusCode
from edxml.signature import sign
from gateway.app import build_app
from gateway.commands.local_services import LocalRabbitMQ, free_port, make_dev_pki, port_open
from gateway.config import load_settings
from gateway.credentials.auth import sign_request
from gateway.delivery.topology import Names, topology

SENDER, PUSH, PULL = "000.00.00.G22", "000.00.00.H17", "000.00.00.H41"
SECRETS = {"demo-vpcp": "demo-secret-vpcp", "demo-push": "demo-secret-push", "demo-pull": "d-p"}
STEP_TIMEOUT_S = 90.0
DEMO_LADDER = (1.0, 5.0)
REPO = Path(__file__).resolve().parents[2]


def say(step: str, text: str) -> None:
    """Print one step of the demo."""
    print(f"[{step:>10}] {text}", flush=True)


async def _amqp_answers(url: str) -> bool:
    parsed = URL(url)
    if not port_open(parsed.port or 5672, parsed.host or "127.0.0.1"):
        return False
    try:
        connection = await asyncio.wait_for(aio_pika.connect(url), timeout=5)
    except Exception:
        return False
    await connection.close()
    return True


async def _delete_topology(url: str, prefix: str) -> None:
    """Remove the demo's queues and exchanges from a broker it shares with others."""
    names = Names(prefix)
    with contextlib.suppress(Exception):
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            for spec in topology(DEMO_LADDER, names=names):
                await channel.queue_delete(spec.name)
            for exchange in (names.work_exchange, names.retry_exchange):
                await channel.exchange_delete(exchange)


class Client:
    """A calling system speaking API v1 with signed requests."""

    def __init__(self, session: aiohttp.ClientSession, base: str, system: str) -> None:
        self.session, self.base, self.system = session, base, system

    async def call(self, method: str, path: str, body: bytes = b"") -> Any:
        """Send one signed request; return its JSON (or bytes), raise on a 4xx/5xx answer."""
        headers = sign_request(self.system, SECRETS[self.system], method, path, body)
        async with self.session.request(
            method, self.base + path, data=body, headers=headers
        ) as response:
            data = await response.read()
            if response.status >= 400:
                raise RuntimeError(f"{method} {path} -> {response.status}: {data.decode()}")
            if response.content_type == "application/json":
                return await response.json()
            return data

    async def inbox(self) -> list[dict[str, Any]]:
        """The system's inbox items (first page of 100)."""
        return (await self.call("GET", "/v1/inbox?limit=100"))["items"]

    async def status(self, code: StatusCode, me: str, document_id: str) -> None:
        """Send status ``code`` from agency ``me`` for the demo sender's ``document_id``."""
        doc = ResponseFor(organ_id=SENDER, document_id=document_id)
        packet = status_message(sender=Organization(organ_id=me), document=doc, code=code)
        await self.call("POST", "/v1/messages", build(packet))


async def _until(what: str, probe: Callable[[], Awaitable[Any]]) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP_TIMEOUT_S
    while loop.time() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise TimeoutError(f"timed out waiting for: {what}")


def _settings(tmp: Path, amqp_url: str, pki: Any, push_url: str, prefix: str) -> Any:
    agencies = [
        {"code": SENDER, "name": "Văn phòng Chính phủ", "systems": "demo-vpcp"},
        {
            "code": PUSH,
            "name": "UBND tỉnh Hòa Bình",
            "systems": "demo-push",
            "endpoint_kind": "push",
            "endpoint_url": push_url,
        },
        {"code": PULL, "name": "UBND tỉnh Nghệ An", "systems": "demo-pull"},
    ]
    return load_settings(
        None,
        listen={"host": "127.0.0.1", "port": free_port()},
        node={"code": SENDER, "key_file": pki.node_key, "cert_file": pki.node_chain},
        store={"url": f"sqlite:///{tmp / 'gateway.db'}", "blob_dir": str(tmp / "blobs")},
        amqp={
            "url": amqp_url,
            "retry_ladder": list(DEMO_LADDER),
            "outbox_interval_s": 2.0,
            "prefix": prefix,
        },
        trust={"anchors": [pki.ca_cert]},
        calendar_file=REPO / "config" / "calendar.toml",
        systems=[
            {"id": s, "secret": SECRETS[s], "agencies": [c], "policy": p}
            for s, c, p in (
                ("demo-vpcp", SENDER, "strict"),  # documents must carry a valid signature
                ("demo-push", PUSH, "legacy"),  # recipients' statuses are not signed here
                ("demo-pull", PULL, "legacy"),
            )
        ],
        directory={"agencies": agencies},
    )


async def _push_recipient(port: int, received: asyncio.Queue[bytes]) -> web.AppRunner:
    async def inbound(request: web.Request) -> web.Response:
        await received.put(await request.read())
        return web.json_response({"status": "OK"})

    app = web.Application(client_max_size=200 * 2**20)
    app.router.add_post("/edoc/in", inbound)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def _flow(base: str, pki: Any, received: asyncio.Queue[bytes]) -> None:
    key = load_pem_private_key(pki.signer_key.read_bytes(), password=None)
    chain = x509.load_pem_x509_certificates(pki.signer_chain.read_bytes())
    async with aiohttp.ClientSession() as session:
        sender = Client(session, base, "demo-vpcp")
        push = Client(session, base, "demo-push")
        pull = Client(session, base, "demo-pull")
        packet = new_document(
            sender=Organization(organ_id=SENDER, organ_name="Văn phòng Chính phủ"),
            to=[Organization(organ_id=PUSH), Organization(organ_id=PULL)],
            code=Code("15", "VPCP-KSTT"),
            subject="Về việc thử nghiệm cổng trao đổi văn bản điện tử",
            promulgation_date=date.today(),
        )
        signed = sign(build(packet), key, chain)  # type: ignore[arg-type]
        receipt = await sender.call("POST", "/v1/messages", signed)
        doc_id, message_id = receipt["document_id"], receipt["message_id"]
        say("receipt", f"message {message_id} · DocumentId {doc_id}")
        say(
            "receipt",
            f"signature {receipt['signature']['status']} · sha256 "
            f"{receipt['content_sha256'][:16]}… · legal receipt {receipt['legal_receipt_at']}",
        )

        pushed = await asyncio.wait_for(received.get(), STEP_TIMEOUT_S)
        say("delivery", f"push → {PUSH}: {len(pushed)} bytes POSTed to its system")
        items = await _until("pull inbox", pull.inbox)
        say("delivery", f"pull → {PULL}: waiting in the inbox (delivery {items[0]['delivery_id']})")
        fetched = await pull.call("GET", f"/v1/messages/{message_id}")
        assert fetched == signed, "fetched packet differs from the one sent"
        await pull.call("POST", f"/v1/messages/{message_id}/ack")
        say("delivery", f"pull ← {PULL}: fetched {len(fetched)} bytes and acknowledged")

        for code in (StatusCode.ARRIVED, StatusCode.ACCEPTED, StatusCode.PROCESSING):
            await push.status(code, PUSH, doc_id)
        for code in (StatusCode.ACCEPTED, StatusCode.PROCESSING):
            await pull.status(code, PULL, doc_id)
        await push.status(StatusCode.DONE, PUSH, doc_id)
        await pull.status(StatusCode.DONE, PULL, doc_id)

        seen: dict[str, list[int]] = {PUSH: [], PULL: []}
        want = [1, 3, 5, 6]

        async def statuses_arrived() -> bool:
            for item in await sender.inbox():
                if item["kind"] == "status":
                    seen[item["sender"]].append(item["status_code"])
                    say("status", f"{item['sender']} → {SENDER}: {item['status_code']:02d}")
                    await sender.call("POST", f"/v1/messages/{item['message_id']}/ack")
            return all(sorted(seen[c]) == want for c in seen)

        await _until("statuses 01 → 03 → 05 → 06 from both recipients", statuses_arrived)

        recall = dataclasses.replace(
            new_document(
                sender=Organization(organ_id=SENDER),
                to=[Organization(organ_id=PULL)],
                code=Code("16", "VPCP-KSTT"),
                subject="Thu hồi văn bản thử nghiệm",
                promulgation_date=date.today(),
            ),
            business=Business(
                document_id=doc_id, doc_type=BusinessDocType.RECALL, reason="Thu hồi để sửa"
            ),
        )
        recall_receipt = await sender.call("POST", "/v1/messages", sign(build(recall), key, chain))  # type: ignore[arg-type]
        say("recall", f"{SENDER} recalls {doc_id} from {PULL} (13)")

        async def recall_arrived() -> list[dict[str, Any]]:
            return [
                i for i in await pull.inbox() if i["message_id"] == recall_receipt["message_id"]
            ]

        await _until("recall in the pull inbox", recall_arrived)
        await pull.call("POST", f"/v1/messages/{recall_receipt['message_id']}/ack")
        await pull.status(StatusCode.RECALL_AGREED, PULL, doc_id)

        async def agreed() -> bool:
            for item in await sender.inbox():
                if item["kind"] == "status" and item["status_code"] == 15:
                    say("recall", f"{item['sender']} → {SENDER}: 15 (recall agreed)")
                    return True
            return False

        await _until("status 15", agreed)
        trace = await sender.call("GET", f"/v1/messages/{message_id}/trace")
        for d in trace["deliveries"]:
            say("trace", f"{d['resolved_code']} via {d['endpoint']}: {d['state']}")
        history = [f"{s['recipient_code'][-3:]}:{s['status_code']}" for s in trace["statuses"]]
        say("trace", "history " + " ".join(history))


async def _run(config: Path | None) -> int:
    configured = load_settings(config) if config else None
    url = configured.amqp.url if configured else "amqp://guest:guest@127.0.0.1:5672/"
    local: LocalRabbitMQ | None = None
    with tempfile.TemporaryDirectory(prefix="edoc-demo-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            if await _amqp_answers(url):
                say("rabbitmq", f"using the RabbitMQ at {url.split('@')[-1]}")
            else:
                say("rabbitmq", "none answers: starting a private RabbitMQ node …")
                local = LocalRabbitMQ()
                await asyncio.to_thread(local.start)
                url = local.url
                say("rabbitmq", f"started on 127.0.0.1:{local.port}")
            pki = make_dev_pki(tmp / "pki")
            received: asyncio.Queue[bytes] = asyncio.Queue()
            push_port = free_port()
            push_runner = await _push_recipient(push_port, received)
            # Its own topology namespace: a gateway already running on this broker (same
            # node code, same virtual host) must not consume the demo's deliveries.
            prefix = f"edoc-demo-{uuid.uuid4().hex[:8]}"
            settings = _settings(tmp, url, pki, f"http://127.0.0.1:{push_port}/edoc/in", prefix)
            runner = web.AppRunner(build_app(settings), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", settings.listen.port).start()
            base = f"http://127.0.0.1:{settings.listen.port}"
            say("gateway", f"listening on {base} (store {settings.store.url})")
            try:
                await _flow(base, pki, received)
            finally:
                await runner.cleanup()
                await push_runner.cleanup()
                if local is None:
                    await _delete_topology(url, prefix)
        except Exception as exc:
            say("FAILED", f"{type(exc).__name__}: {exc}")
            return 1
        finally:
            if local is not None:
                await asyncio.to_thread(local.stop)
                say("rabbitmq", "private node stopped")
    say("done", "every step happened")
    return 0


def run_demo(config: Path | None = None) -> int:
    """Run the demo; return the process exit status (0 when every step happened)."""
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_run(config))
    return 130
