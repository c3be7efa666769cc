"""SOAP with Attachments (``multipart/related``) framing, read with the stdlib ``email`` parser.

A Bkav-hub client frames a request as ``multipart/related; type="text/xml";
boundary=..; start="<cid>"``: the root part is the SOAP envelope, every other part an
attachment named by its Content-ID. Reading uses :mod:`email`'s ``BytesParser`` (the maintained
MIME parser: boundaries, part headers, transfer encodings), never string splitting.

Unauthenticated callers must not make the gateway parse big bodies: :func:`root_part` reads
only the body's bounded head (the root part leads, as every hub client sends it) so the
envelope, which carries the credentials, is read and checked before the attachments are.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from edxml.edoc_vn import MimePart
from gateway.errors import PayloadTooLarge, RequestInvalid

_PARSER = BytesParser(policy=policy.HTTP)


@dataclass(frozen=True, slots=True)
class Framing:
    """What the request's Content-Type says: multipart or bare XML, and the root's id."""

    multipart: bool
    media_type: str
    start: str | None


def framing(content_type: str) -> Framing:
    """Read the request's Content-Type with the ``email`` header parser."""
    message = _message(f"Content-Type: {content_type or 'text/xml'}\r\n\r\n".encode())
    media = message.get_content_type()
    start = message.get_param("start", header="content-type")
    start_id = _cid(str(start)) if start else None
    return Framing(media.startswith("multipart/"), media, start_id)


def _message(data: bytes) -> EmailMessage:
    message = _PARSER.parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def _cid(value: str | None) -> str:
    return (value or "").strip().strip("<>").strip()


def _parse(content_type: str, body: bytes) -> EmailMessage:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = _message(head + body)
    if not message.is_multipart():
        raise RequestInvalid("multipart/related body without parts")
    return message


def _parts(message: EmailMessage) -> list[EmailMessage]:
    return [p for p in message.iter_parts() if isinstance(p, EmailMessage)]


def _payload(part: EmailMessage) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def root_part(content_type: str, head: bytes, frame: Framing, ended: bool) -> bytes:
    """Return the root part (the SOAP envelope) of a multipart body from its ``head`` (the
    whole body when ``ended``). Raises ``PayloadTooLarge`` when the root runs past the head,
    ``RequestInvalid`` when it does not start there."""
    message = _parse(content_type, head)
    parts = _parts(message)
    for index, part in enumerate(parts):
        content_id = _cid(part.get("Content-ID"))
        # A part cut by the prefix is incomplete: only a part that is not the last one
        # parsed, or the whole body, is known to be complete.
        complete = index < len(parts) - 1 or ended
        if (frame.start is None and index == 0) or (frame.start and content_id == frame.start):
            if not complete:
                raise PayloadTooLarge(f"the root part is over {len(head)} bytes")
            return _payload(part)
    raise RequestInvalid("the root part must lead the body")


def attachments(content_type: str, body: bytes, frame: Framing) -> dict[str, MimePart]:
    """Return every non-root part of a multipart body by Content-ID (without ``<>``)."""
    message = _parse(content_type, body)
    found: dict[str, MimePart] = {}
    for index, part in enumerate(_parts(message)):
        content_id = _cid(part.get("Content-ID"))
        if (frame.start is None and index == 0) or (frame.start and content_id == frame.start):
            continue
        if not content_id:
            raise RequestInvalid(f"MIME part {index + 1} has no Content-ID")
        if content_id in found:
            raise RequestInvalid(f"Content-ID <{content_id}> appears twice")
        found[content_id] = MimePart(content_id, part.get_content_type(), _payload(part))
    return found


@dataclass(frozen=True, slots=True)
class Framed:
    """An answer ready for HTTP: its Content-Type and body."""

    content_type: str
    body: bytes


def multipart(envelope: bytes, parts: list[MimePart]) -> Framed:
    """Frame an answer as the hub's ESB does: ``multipart/related; type="text/xml"``,
    boundary ``MIMEBoundary_*``, root ``<0.*@apache.org>``; attachment bodies under CTE
    ``binary``, as given."""
    token = secrets.token_hex(16)
    boundary = f"MIMEBoundary_{token}"
    root = f"0.{token}@apache.org"
    chunks = [
        f"--{boundary}\r\nContent-Type: text/xml; charset=UTF-8\r\n"
        f"Content-Transfer-Encoding: binary\r\nContent-ID: <{root}>\r\n\r\n".encode(),
        envelope,
    ]
    for part in parts:
        chunks.append(
            f"\r\n--{boundary}\r\nContent-Type: {part.content_type or 'application/octet-stream'}"
            f"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{part.content_id}>"
            "\r\n\r\n".encode()
        )
        chunks.append(part.data)
    chunks.append(f"\r\n--{boundary}--\r\n".encode())
    content_type = f'multipart/related; boundary={boundary}; type="text/xml"; start="<{root}>"'
    return Framed(content_type, b"".join(chunks))
