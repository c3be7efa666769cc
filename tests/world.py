"""The one test world: agencies, calling systems, keys and packets every gateway test speaks.

The in-process nodes of the integration tests (``tests.integration.gateway_node``), the real
gateway processes of the fault, scale-out and hostile-input runs (``tests.faults.cluster``)
and the door-by-door tests all build their directory, systems and packets from here, so a
packet of one suite means the same thing in another.

- agencies: ``G22`` (Văn phòng Chính phủ, system ``SYS-G22``), ``H41`` (UBND tỉnh Nghệ An,
  ``SYS-H41``), ``H14`` (UBND tỉnh Sơn La, ``SYS-H14``), ``G17`` (Bộ Tài chính, ``SYS-STRICT``:
  strict signature policy and strict VXP profile) and ``LOCKED`` (suspended); for the tests
  of every door (:func:`door_settings`) also ``CLOSED`` (receives from G17 only) and
  ``SYS-LOCKED``, the system of the suspended agency;
- :data:`SECRETS` of those systems, :data:`ADMIN_TOKEN` of the operators;
- :class:`Pki`: a CA, the node's key and an agency signer trusted by the CA;
- :func:`document` and :func:`status`: unsigned packets (accepted under ``legacy``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from edxml.build import build, new_document, status_message
from edxml.model import Code, Organization, ResponseFor, StatusCode
from tests.pki import make_ca, make_leaf, write_pems

G22, H41, H14, G17 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H14", "000.00.00.G17"
LOCKED = "000.00.00.H62"
"""A suspended agency: it may neither send nor receive."""

ADMIN_TOKEN = "h7-admin-token-0123456789"
SECRETS = {
    "SYS-G22": "secret-g22-ếđ",
    "SYS-H41": "secret-h41",
    "SYS-H14": "secret-h14",
    "SYS-STRICT": "secret-strict",
}
SYSTEMS: list[dict[str, Any]] = [
    {"id": "SYS-G22", "secret": SECRETS["SYS-G22"], "agencies": [G22], "policy": "legacy"},
    {"id": "SYS-H41", "secret": SECRETS["SYS-H41"], "agencies": [H41], "policy": "legacy"},
    {"id": "SYS-H14", "secret": SECRETS["SYS-H14"], "agencies": [H14], "policy": "legacy"},
    # Speaks for G17 under the strict signature policy (signature cases of the hostile corpus)
    # and the strict VXP authentication profile (replay cases).
    {
        "id": "SYS-STRICT",
        "secret": SECRETS["SYS-STRICT"],
        "agencies": [G17],
        "policy": "strict",
        "profile": "strict",
    },
]
AGENCIES: list[dict[str, Any]] = [
    {"code": G22, "old_code": "G22", "name": "Văn phòng Chính phủ", "systems": "SYS-G22"},
    {"code": H41, "old_code": "H41", "name": "UBND tỉnh Nghệ An", "systems": "SYS-H41"},
    {"code": H14, "name": "UBND tỉnh Sơn La"},
    {"code": G17, "name": "Bộ Tài chính"},
    {"code": LOCKED, "name": "Đơn vị bị khóa", "status": "suspended"},
]
CLOSED = "000.00.00.H58"
"""Receives only from G17 (its ``accepts_from``): a document from G22 to it is refused."""
LOCKED_SYSTEM = "SYS-LOCKED"
"""The system of the suspended agency ``LOCKED``: it authenticates, but may not send."""
SECRETS[LOCKED_SYSTEM] = "secret-locked"
DOOR_AGENCIES: list[dict[str, Any]] = [
    {"code": CLOSED, "name": "Cơ quan chỉ nhận từ Bộ Tài chính", "accepts_from": [G17]},
]
DOOR_SYSTEMS: list[dict[str, Any]] = [
    {"id": LOCKED_SYSTEM, "secret": SECRETS[LOCKED_SYSTEM], "agencies": [LOCKED]},
]
AGENCY_OF = {
    "SYS-G22": G22,
    "SYS-H41": H41,
    "SYS-H14": H14,
    "SYS-STRICT": G17,
    LOCKED_SYSTEM: LOCKED,
}
"""The agency each system speaks for (hub doors authenticate with ``OrganId`` + secret)."""


def systems(*ids: str) -> list[dict[str, Any]]:
    """Copies of the named systems' records (all of them when no id is given)."""
    return [dict(s) for s in SYSTEMS if not ids or s["id"] in ids]


def agencies(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    """Copies of the world's agency records, followed by ``extra`` records."""
    return [*(dict(a) for a in AGENCIES), *extra]


def door_settings() -> dict[str, Any]:
    """``EDOC_`` sections of a node for the door-by-door tests: the world plus the agency
    closed to G22 and the system of the suspended agency."""
    return {
        "SYSTEMS": [*systems(), *(dict(s) for s in DOOR_SYSTEMS)],
        "DIRECTORY": {"agencies": agencies(*(dict(a) for a in DOOR_AGENCIES))},
    }


@dataclass(frozen=True)
class Pki:
    """A CA, the node's key and certificate, and an agency signer, written as PEM files."""

    directory: Path
    paths: dict[str, Path]
    signer: Any  # tests.pki.Credential of an agency signer trusted by the CA
    ca: Any

    @classmethod
    def create(cls, directory: Path) -> Pki:
        """Generate the credentials and write them under ``directory``."""
        ca = make_ca("H7 Test Root CA")
        signer = make_leaf(ca, "Văn thư Bộ Tài chính")
        paths = write_pems(directory, ca=ca, node=make_leaf(ca, "edoc node"), signer=signer)
        return cls(directory, paths, signer, ca)


def document(
    number: str,
    *,
    sender: str = G22,
    to: Sequence[str] = (H41,),
) -> bytes:
    """An unsigned new-document packet (accepted under the ``legacy`` policy).

    Its DocumentId is ``{sender},2024/01/05,{number}/VPCP-TTĐT``.
    """
    envelope = new_document(
        sender=Organization(organ_id=sender, organ_name="Đơn vị gửi"),
        to=[Organization(organ_id=code, organ_name="Đơn vị nhận") for code in to],
        code=Code(number, "VPCP-TTĐT"),
        subject=f"Văn bản thử nghiệm số {number}",
        promulgation_date=date(2024, 1, 5),
        timestamp=datetime(2024, 1, 5, 8, 0, 0),
    )
    return build(envelope)


def status(sender: str, document_sender: str, document_id: str, code: StatusCode) -> bytes:
    """A status packet from ``sender`` about a document of ``document_sender``."""
    packet = status_message(
        sender=Organization(organ_id=sender),
        document=ResponseFor(organ_id=document_sender, document_id=document_id),
        code=code,
    )
    return build(packet)
