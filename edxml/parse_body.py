"""Reading the body of a document: the ``edXMLManifest`` and the ``AttachmentEncoded`` files."""

from __future__ import annotations

from .model import Attachment, ManifestReference
from .parse_node import Node


def manifest(body: Node | None) -> tuple[str | None, tuple[ManifestReference, ...]]:
    """Return the manifest's ``version`` attribute and its references (none when absent)."""
    found = None if body is None else body.child("edXMLManifest")
    if found is None:
        return None, ()
    refs = tuple(
        ManifestReference(
            content_id=ref.required("ContentId"),
            content_type=ref.text("ContentType"),
            description=ref.text("Description"),
            attachment_name=ref.text("AttachmentName"),
        )
        for ref in found.children("Reference")
    )
    return found.el.get("version"), refs


def attachments(node: Node | None, cut: dict[str, str]) -> tuple[Attachment, ...]:
    """Return the attachments; a text that is a key of ``cut`` (the big-packet path of
    :mod:`edxml.parse_big`) stands for the base64 text cut out before parsing."""
    if node is None:
        return ()
    found: list[Attachment] = []
    for att in node.children("Attachment"):
        encoded_el = att.first("ContentTransferEncoded")
        # The base64 text is kept exactly as sent (no strip, no NFC): it can be 100 MB and
        # every transformation would copy it.
        encoded = "" if encoded_el is None else encoded_el.text or ""
        encoded = cut.get(encoded, encoded)
        found.append(
            Attachment(
                content_id=att.required("ContentId"),
                attachment_name=att.text("AttachmentName"),
                description=att.text("Description"),
                content_type=att.text("ContentType"),
                encoded=encoded,
            )
        )
    return tuple(found)
