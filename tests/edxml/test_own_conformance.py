"""The project's own conformance packets: each wire quirk accepted, with its values read.

These run on a bare clone. The same quirks in the third-party samples are checked by the
tests that read ``../shared/conformance`` in place when it is present.
"""

from __future__ import annotations

from datetime import date

import pytest

from edxml.errors import WARN_DOCUMENT_ID_DATE, WARN_DOCUMENT_ID_SENDER, EdxmlError
from edxml.model import BusinessDocType, Envelope, StatusCode, StatusMessage
from edxml.parse import parse
from edxml.pipeline import check_packet
from tests.conformance import OWN_DIR, OWN_MALFORMED_DIR, OWN_NAMES, own, own_malformed
from tests.conformance.generate import FIXTURES, MALFORMED

TODAY = date(2026, 6, 1)


def _document(name: str) -> Envelope:
    packet = parse(own(name))
    assert isinstance(packet, Envelope)
    return packet


def _warnings(name: str) -> set[str]:
    result = check_packet(own(name), policy="legacy", trust_anchors=[], today=TODAY)
    return {w.code for w in result.warnings}


def test_fixtures_on_disk_are_what_the_generator_writes() -> None:
    assert set(OWN_NAMES) == set(FIXTURES)
    for name, (text, quirk) in FIXTURES.items():
        assert (OWN_DIR / name).read_text(encoding="utf-8") == text, name
        assert quirk
    for name, (text, _) in MALFORMED.items():
        assert (OWN_MALFORMED_DIR / name).read_text(encoding="utf-8") == text


@pytest.mark.parametrize("name", OWN_NAMES)
def test_every_own_packet_is_accepted_under_legacy(name: str) -> None:
    result = check_packet(own(name), policy="legacy", trust_anchors=[], today=TODAY)
    assert result.verification.status == "unverified-legacy"
    assert result.packet.sender in {"000.00.00.G22", "000.00.00.H41"}


def test_new_document_values_and_quirks() -> None:
    packet = _document("document-new.edxml")
    assert packet.sender == "000.00.00.G22"
    assert packet.recipients == ("000.00.00.H41", "000.00.00.H14")
    assert packet.document_id == "000.00.00.G22,2025/03/17,215/VPCP-KSTT"
    assert packet.header.code is not None
    assert packet.header.code.code_notation == "VPCP-KSTT"
    assert packet.business is not None
    assert packet.business.doc_type == BusinessDocType.NEW  # read from "Bussiness"
    assert packet.business.document_id.endswith("2025/02/30,214/VPCP-KSTT")
    # The impossible date inside the Bussiness DocumentId is a warning, not a refusal.
    assert WARN_DOCUMENT_ID_DATE in _warnings("document-new.edxml")
    result = check_packet(own("document-new.edxml"), policy="legacy", trust_anchors=[])
    (attachment,) = result.attachments
    assert attachment.name == "cong-van-215.doc"


def test_element_order_does_not_change_the_model() -> None:
    assert _document("element-order.edxml") == _document("document-new.edxml")


def test_business_spelling_does_not_change_the_model() -> None:
    assert _document("business-spelled-right.edxml") == _document("document-new.edxml")


def test_dd_mm_yyyy_promulgation_date() -> None:
    info = _document("date-dd-mm-yyyy.edxml").header.promulgation_info
    assert info is not None and info.promulgation_date == date(2025, 3, 17)


def test_document_id_of_another_agency_is_a_warning() -> None:
    assert WARN_DOCUMENT_ID_SENDER in _warnings("document-id-other-agency.edxml")


def test_letters_in_code_number() -> None:
    code = _document("code-number-letters.edxml").header.code
    assert code is not None and code.code_number == "21ab5c"


def test_three_group_recipient_code() -> None:
    assert _document("three-group-code.edxml").recipients == ("000.00.00.H41", "28.22.H17")


def test_update_document() -> None:
    business = _document("update-document.edxml").business
    assert business is not None and business.doc_type == BusinessDocType.UPDATE


def test_status_in_message_header_container() -> None:
    packet = parse(own("status-message-header.edxml"))
    assert isinstance(packet, StatusMessage)
    assert packet.status_code == StatusCode(5)
    assert packet.sender == "000.00.00.H41"


def test_malformed_template_is_refused_as_not_well_formed() -> None:
    with pytest.raises(EdxmlError) as info:
        check_packet(own_malformed(), policy="legacy", trust_anchors=[])
    assert info.value.code == "EDXML_NOT_WELL_FORMED"
    assert info.value.message_vi and info.value.message_en
