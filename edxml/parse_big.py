"""Parsing big packets without holding their base64 text twice (once in the tree, once in
the model).

A packet this big almost always carries its size in base64 attachments. Each long base64 run
inside a ``ContentTransferEncoded`` start tag is cut out and replaced by a random token; the
rest (a few KB) goes through :func:`~edxml.safexml.safe_fromstring`. The cut text is used only
where the parsed tree shows the token as the exact text of a ``ContentTransferEncoded``
element; anything else (a token inside a comment, CDATA, an attribute) falls back to the
ordinary parse. Only ASCII base64 characters without ``\\r`` or ``&`` are cut, so the text is
exactly what the XML parser would have produced.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

from lxml import etree

from .errors import LimitExceeded
from .model import NAMESPACE
from .safexml import Limits, safe_fromstring

BIG_PACKET = 4 * 2**20
_BIG_TEXT = 256 * 2**10
_CTE_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?ContentTransferEncoded\b[^<>]*>")
_BASE64_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n\t "
_CHUNK = 2**20


def parse_big(data: bytes, limits: Limits) -> tuple[etree._Element, dict[str, str]] | None:
    """Return the tree of ``data`` with its long base64 texts cut out, and the cut texts by
    the token that stands for each; ``None`` when nothing was cut or the cut is not safe.

    Raises ``LimitExceeded`` for a text longer than ``limits.max_text_bytes`` and the errors
    of :func:`~edxml.safexml.safe_fromstring`.
    """
    view = memoryview(data)
    pieces: list[bytes | memoryview] = []
    texts: dict[str, memoryview] = {}
    token = secrets.token_hex(16)
    pos = 0
    for start in _cte_text_starts(data):
        if start < pos:
            continue
        end = data.find(b"<", start)
        if end < 0 or end - start < _BIG_TEXT:
            continue
        if not _plain_base64(view[start:end]):
            continue
        if end - start > limits.max_text_bytes:
            raise LimitExceeded(f"text node longer than {limits.max_text_bytes}")
        key = f"{token}{len(texts)}"
        texts[key] = view[start:end]
        pieces += (view[pos:start], key.encode("ascii"))
        pos = end
    if not texts:
        return None
    pieces.append(view[pos:])
    root = safe_fromstring(b"".join(pieces), limits)
    placed = [
        el
        for el in root.iter(f"{{{NAMESPACE}}}ContentTransferEncoded", "ContentTransferEncoded")
        if el.text in texts
    ]
    if sorted(el.text for el in placed) != sorted(texts):
        return None
    return root, {key: str(text, "ascii") for key, text in texts.items()}


def _plain_base64(view: memoryview) -> bool:
    # Chunked so that no full-size copy is made; translate() runs at memory speed.
    return not any(
        view[i : i + _CHUNK].tobytes().translate(None, _BASE64_BYTES)
        for i in range(0, len(view), _CHUNK)
    )


def _cte_text_starts(data: bytes) -> Iterator[int]:
    # bytes.find runs at memchr speed; the regex only confirms a start tag around each hit.
    idx = data.find(b"ContentTransferEncoded")
    while idx >= 0:
        lt = data.rfind(b"<", max(0, idx - 64), idx)
        match = _CTE_START.match(data, lt) if lt >= 0 else None
        if match is not None:
            yield match.end()
        idx = data.find(b"ContentTransferEncoded", idx + 22)
