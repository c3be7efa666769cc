"""A Bkav eDoc hub test client written from the wire facts alone (imports nothing of ours).

It frames requests the way the C# QLVB client does: ``multipart/related; type="text/xml";
boundary="Boundary"; start="Start"``, root part headers ``Content-Type: text/xml;
charset=utf-8``, ``Content-Transfer-Encoding: 8bit``, ``Content-ID:<Start>``, one part per
attachment; or plain ``text/xml``. Answers are read as a hub client reads them: multipart or
bare XML, ``Report/IsSuccess``, attachment parts whose body is the file's Base64 text.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from xml.sax.saxutils import escape

import aiohttp
from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
E = "http://www.e-doc.vn/Schema/"


@dataclass
class HubAnswer:
    """A parsed answer: the envelope, its Body, and attachment parts by Content-ID."""

    status: int
    content_type: str
    envelope: etree._Element
    parts: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    @property
    def body(self) -> etree._Element:
        """The SOAP Body element."""
        node = self.envelope.find(f"{{{SOAP}}}Body")
        assert node is not None
        return node

    def find(self, path: str) -> etree._Element | None:
        """``.//edXML:path`` (``/``-separated local names) inside the Body."""
        steps = "/".join(f"{{{E}}}{p}" for p in path.split("/"))
        return self.body.find(f".//{steps}")

    def findall(self, path: str) -> list[etree._Element]:
        """Every ``.//edXML:path`` inside the Body."""
        steps = "/".join(f"{{{E}}}{p}" for p in path.split("/"))
        return self.body.findall(f".//{steps}")

    @property
    def ok(self) -> bool:
        """``Report/IsSuccess`` is true."""
        node = self.find("Report/IsSuccess")
        assert node is not None, etree.tostring(self.envelope)
        return node.text == "true"

    @property
    def error_codes(self) -> list[str]:
        """The ``ErrorList/Error/Code`` values."""
        return [str(c.text) for c in self.findall("Report/ErrorList/Error/Code")]


def envelope(body: str, header: str = "") -> str:
    """A SOAP 1.1 envelope with unqualified wrappers, as the C# client writes it."""
    head = f"<s:Header>{header}</s:Header>" if header else ""
    return f'<s:Envelope xmlns:s="{SOAP}">{head}<s:Body>{body}</s:Body></s:Envelope>'


def credentials(wrapper: str, organ: str, token: str, extra: str = "") -> str:
    """``<wrapper><OrganId/><Token/>extra</wrapper>``."""
    return (
        f"<{wrapper}><OrganId>{escape(organ)}</OrganId><Token>{escape(token)}</Token>"
        f"{extra}</{wrapper}>"
    )


def frame(root: bytes, attachments: dict[str, tuple[str, bytes]]) -> tuple[str, bytes]:
    """Frame a multipart/related request exactly as the C# client does."""
    chunks = [
        b"--Boundary\r\nContent-Type: text/xml; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\nContent-ID:<Start>\r\n\r\n",
        root,
    ]
    for cid, (media, data) in attachments.items():
        chunks.append(
            f"\r\n--Boundary\r\nContent-Type: {media}\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{cid}>\r\n\r\n".encode()
        )
        chunks.append(data)
    chunks.append(b"\r\n--Boundary--\r\n")
    content_type = 'multipart/related; type="text/xml"; boundary="Boundary"; start="Start"'
    return content_type, b"".join(chunks)


def read_answer(status: int, content_type: str, data: bytes) -> HubAnswer:
    """Parse a multipart or bare-XML answer."""
    if content_type.lower().startswith("multipart/"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=policy.HTTP).parsebytes(head + data)
        assert isinstance(message, EmailMessage) and message.is_multipart()
        start = (message.get_param("start", header="content-type") or "").strip("<>")
        root: bytes | None = None
        parts: dict[str, tuple[str, bytes]] = {}
        for part in message.iter_parts():
            cid = str(part.get("Content-ID", "")).strip().strip("<>")
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            if cid == start:
                root = payload
            else:
                parts[cid] = (part.get_content_type(), payload)
        assert root is not None, "no root part"
        return HubAnswer(status, content_type, etree.fromstring(root), parts)
    return HubAnswer(status, content_type, etree.fromstring(data))


@dataclass
class HubClient:
    """Calls the hub SOAP door as one agency."""

    session: aiohttp.ClientSession
    url: str
    organ: str
    token: str
    multipart: bool = True

    async def post(
        self,
        action: str,
        root: str | bytes,
        attachments: dict[str, tuple[str, bytes]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> HubAnswer:
        """POST one request framed as the C# client frames it."""
        data = root.encode("utf-8") if isinstance(root, str) else root
        if self.multipart or attachments:
            content_type, data = frame(data, attachments or {})
        else:
            content_type = "text/xml; charset=utf-8"
        sent = {"Content-Type": content_type, "SOAPAction": action, **(headers or {})}
        async with self.session.post(self.url, data=data, headers=sent) as response:
            raw = await response.read()
            return read_answer(response.status, response.headers["Content-Type"], raw)

    async def simple(self, action: str, wrapper: str, extra: str = "") -> HubAnswer:
        """An action whose credentials sit in the Body wrapper."""
        return await self.post(
            action, envelope(credentials(wrapper, self.organ, self.token, extra))
        )

    async def pending(self) -> list[int]:
        """GetPendingDocumentIds → the numeric ids."""
        answer = await self.simple("GetPendingDocumentIds", "GetPendingDocumentIdsRequest")
        return [int(str(e.text)) for e in answer.findall("DocumentIds/DocumentId")]

    async def get_document(self, number: int) -> HubAnswer:
        """GetDocument by numeric id."""
        extra = f"<DocumentId>{number}</DocumentId>"
        return await self.simple("GetDocument", "GetDocumentRequest", extra)

    async def confirm(self, number: int) -> HubAnswer:
        """ConfirmReceived by numeric id."""
        return await self.simple(
            "ConfirmReceived", "ConfirmReceived", f"<DocumentId>{number}</DocumentId>"
        )

    async def traces(self, timestamp: str | None = None) -> HubAnswer:
        """GetTraces (optionally from a TimeStamp)."""
        extra = f"<TimeStamp>{timestamp}</TimeStamp>" if timestamp else ""
        return await self.simple("GetTraces", "GetTraces", extra)


def key_info(organ: str, token: str) -> str:
    """``Signature/KeyInfo{OrganId,Token}`` for the SOAP Header."""
    return (
        f"<Signature><KeyInfo><OrganId>{escape(organ)}</OrganId><Token>{escape(token)}</Token>"
        "</KeyInfo></Signature>"
    )


def send_document_envelope(
    *,
    sender: str,
    to: list[str],
    number: str,
    key_organ: str,
    token: str,
    attachments: dict[str, str],
    notation: str = "SA-VP",
    day: str = "2024/05/10",
) -> str:
    """A SendDocument envelope shaped as the facts page's example (E as default xmlns)."""
    recipients = "".join(
        f"<To><OrganId>{code}</OrganId><OrganName>Đơn vị nhận</OrganName><OrganAdd>X</OrganAdd>"
        "<Email/><Telephone/><Fax/><Website/></To>"
        for code in to
    )
    refs = "".join(
        f'<Reference xlink:href="cid:{cid}"><AttachmentName>{escape(name)}</AttachmentName>'
        "</Reference>"
        for cid, name in attachments.items()
    )
    header = (
        f"<MessageHeader><From><OrganId>{sender}</OrganId><OrganName>Sở A</OrganName>"
        "<OrganizationInCharge/><OrganAdd/><Email/><Telephone/><Fax/><Website/></From>"
        f"{recipients}<DocumentId>{sender},{day},{number}/{notation}</DocumentId>"
        f"<Code><CodeNumber>{number}</CodeNumber><CodeNotation>{notation}</CodeNotation></Code>"
        f"<PromulgationInfo><Place>Tây Ninh</Place><PromulgationDate>{day}</PromulgationDate>"
        "</PromulgationInfo><DocumentType><Type>1</Type><TypeName>Công văn</TypeName>"
        "</DocumentType><Subject>Văn bản thử nghiệm</Subject><Content/><SignerInfo>"
        "<Competence/><Position/><FullName/></SignerInfo><DueDate/><ToPlaces/><OtherInfo>"
        "<Priority>0</Priority><SphereOfPromulgation/><TyperNotation/>"
        "<PromulgationAmount>1</PromulgationAmount><PageAmount>1</PageAmount><Appendixes/>"
        "</OtherInfo><SteeringType>0</SteeringType></MessageHeader>"
        f"<TraceHeaderList><TraceHeader><OrganId>{sender}</OrganId>"
        f"<Timestamp>{day} 09:00:00</Timestamp></TraceHeader><Business><BusinessDocType>0"
        "</BusinessDocType><BusinessDocReason>New</BusinessDocReason><Paper>0</Paper>"
        "</Business></TraceHeaderList><ErrorList/>" + key_info(key_organ, token)
    )
    return (
        f'<s:Envelope xmlns:s="{SOAP}"><s:Header xmlns="{E}">{header}</s:Header><s:Body>'
        f'<Manifest xmlns="{E}" xmlns:xlink="http://www.w3.org/1999/xlink">{refs}</Manifest>'
        "</s:Body></s:Envelope>"
    )


def decode_part(data: bytes) -> bytes:
    """An attachment part body is the file's Base64 text: decode it as a hub client does."""
    return base64.b64decode(data)
