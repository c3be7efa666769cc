"""Push delivery: HTTP POST of the packet to the recipient system's URL, signed by the node.

2xx means delivered; 5xx, 408, 429, timeouts and connection errors are retryable; any
other 4xx is permanent (retrying the same request cannot help).
"""

from __future__ import annotations

import aiohttp
from yarl import URL

from adapters.push.signature import (
    H_KIND,
    H_MESSAGE,
    H_NODE,
    H_RECIPIENT,
    H_SENDER,
    SigningKey,
    sign_request,
)
from gateway.delivery.transports import PermanentDeliveryError, RetryableDeliveryError
from gateway.ports import DeliveryView, MessageView

RETRYABLE_4XX = frozenset({408, 425, 429})


class PushTransport:
    """Delivers packets by HTTP POST with the node's request signature headers."""

    kind = "push"

    def __init__(
        self,
        session: aiohttp.ClientSession | None,
        node_key: SigningKey,
        *,
        node_code: str,
        timeout_s: float = 30.0,
    ) -> None:
        self._session = session
        self._owns_session = session is None
        self._key = node_key
        self._node_code = node_code
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    async def deliver(self, delivery: DeliveryView, packet: bytes, message: MessageView) -> None:
        """POST ``packet`` to the delivery's endpoint URL; raise on failure (see module)."""
        if not delivery.endpoint_url:
            raise PermanentDeliveryError("push endpoint has no URL")
        url = URL(delivery.endpoint_url)
        if url.scheme not in ("http", "https"):
            raise PermanentDeliveryError(f"push endpoint URL scheme {url.scheme!r} refused")
        headers = {
            "Content-Type": "application/xml; charset=utf-8",
            H_NODE: self._node_code,
            H_MESSAGE: message.id,
            H_RECIPIENT: delivery.resolved_code,
            H_SENDER: message.sender,
            H_KIND: message.kind,
            **sign_request(
                self._key,
                method="POST",
                path=url.raw_path_qs,
                delivery_id=delivery.id,
                body=packet,
            ),
        }
        try:
            async with self._client().post(
                url, data=packet, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                status = response.status
                await response.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise RetryableDeliveryError(f"push to {url} failed: {exc!r}") from exc
        if 200 <= status < 300:
            return
        if status >= 500 or status in RETRYABLE_4XX:
            raise RetryableDeliveryError(f"push to {url} answered {status}")
        raise PermanentDeliveryError(f"push to {url} answered {status}")

    async def close(self) -> None:
        """Close the HTTP session if this transport created it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
