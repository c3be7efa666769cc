"""The whole check of one received packet: safe parse → schema → signature → rules → attachments.

:func:`check_packet` runs every stage and returns a :class:`CheckResult`, or raises the
:class:`~edxml.errors.EdxmlError` of the first stage that refuses the packet. Each stage is
also a public function (``stage_*``) so that the gateway can time them one by one; called in
the order of :data:`STAGES` they do exactly what :func:`check_packet` does.

Everything after the signature stage works on ``Verification.packet``: the model built from
the signed element when the signature verified (never from a copy elsewhere in the tree).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from cryptography import x509
from lxml import etree

from .attachments import (
    DEFAULT_ATTACHMENT_LIMITS,
    AttachmentLimits,
    DecodedAttachment,
    check_manifest,
    decode_attachments,
)
from .errors import EdxmlError, Issue
from .model import Envelope, StatusMessage
from .rules import check as check_rules
from .safexml import DEFAULT_LIMITS, Limits, safe_fromstring
from .schema import validate_schema
from .signature import Policy, Verification, verify_root

STAGES = ("parse", "schema", "verify", "rules", "attachments")
_VIETNAM = timezone(timedelta(hours=7))


@dataclass(frozen=True)
class CheckResult:
    """An accepted packet: the trusted model, the signature verdict, decoded attachments and
    the warnings of every stage (odd but accepted things, e.g. an unverified legacy signature).
    """

    packet: Envelope | StatusMessage
    verification: Verification
    attachments: tuple[DecodedAttachment, ...]
    warnings: tuple[Issue, ...]


def stage_parse(data: bytes, limits: Limits = DEFAULT_LIMITS) -> etree._Element:
    """Stage 1: hardened parse of the untrusted bytes (no DTD, size and depth limits)."""
    return safe_fromstring(data, limits)


def stage_schema(root: etree._Element) -> None:
    """Stage 2: XSD validation of the whole tree; raises ``SchemaInvalid`` with the path."""
    validate_schema(root)


def stage_verify(
    root: etree._Element,
    policy: Policy | str,
    trust_anchors: Sequence[x509.Certificate],
    now: datetime | None = None,
) -> Verification:
    """Stage 3: the signature verdict under ``policy`` and the model from the signed element."""
    return verify_root(root, policy, trust_anchors, now=now)


def stage_rules(packet: Envelope | StatusMessage, today: date | None = None) -> list[Issue]:
    """Stage 4: semantic rules of SPEC §3–§4; raises on a refusal, returns the warnings."""
    return check_rules(packet, today=today or datetime.now(_VIETNAM).date())


def stage_attachments(
    packet: Envelope | StatusMessage,
    limits: AttachmentLimits = DEFAULT_ATTACHMENT_LIMITS,
) -> list[DecodedAttachment]:
    """Stage 5: manifest one-to-one check, then decode and inspect every attachment."""
    check_manifest(packet)
    return decode_attachments(packet, limits)


def check_packet(
    data: bytes,
    *,
    policy: Policy | str,
    trust_anchors: Sequence[x509.Certificate],
    today: date | None = None,
    now: datetime | None = None,
    limits: Limits = DEFAULT_LIMITS,
    attachment_limits: AttachmentLimits = DEFAULT_ATTACHMENT_LIMITS,
) -> CheckResult:
    """Run every stage on ``data``; return the accepted packet or raise its ``EdxmlError``.

    ``today`` (for the promulgation-date rule) defaults to the current date in Vietnam;
    ``now`` (for certificate validity) to the current instant.
    """
    try:
        root = stage_parse(data, limits)
        stage_schema(root)
        verification = stage_verify(root, policy, trust_anchors, now)
        packet = verification.packet  # from here on only the signed model is used
        warnings = [*verification.warnings, *stage_rules(packet, today)]
        attachments = stage_attachments(packet, attachment_limits)
    except EdxmlError as exc:
        if not exc.path:
            exc.path = "/"  # errors about the document as a whole (syntax, DTD, size)
        raise
    return CheckResult(packet, verification, tuple(attachments), tuple(warnings))
