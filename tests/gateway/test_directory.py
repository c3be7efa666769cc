"""Tests of the in-memory directory: resolution rules, indexes and the record form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.directory.resolver import (
    Agency,
    Endpoint,
    InMemoryDirectory,
    agency_from_record,
    agency_to_record,
)
from gateway.errors import AgencyDissolved, AgencyInactive, CodeUnknown
from gateway.ports import Directory

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "directory.sample.csv"
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def make(*agencies: Agency) -> InMemoryDirectory:
    return InMemoryDirectory(agencies, clock=lambda: NOW)


def test_resolves_live_agency_by_new_and_old_code() -> None:
    directory = make(Agency("000.01.41.H41", "Văn phòng UBND", old_code="H41.01"))
    by_new = directory.resolve("000.01.41.H41")
    by_old = directory.resolve("H41.01")
    assert by_new.agency is by_old.agency
    assert by_old.requested == "H41.01"
    assert by_old.via == () and not by_old.redirected


def test_lookup_tolerates_case_and_blanks() -> None:
    directory = make(Agency("000.00.00.G22", "Văn phòng Chính phủ", old_code="G22"))
    assert directory.resolve(" 000.00.00.g22 ").agency.code == "000.00.00.G22"
    assert directory.resolve("g22").agency.code == "000.00.00.G22"


def test_unknown_code_is_refused() -> None:
    with pytest.raises(CodeUnknown) as caught:
        make().resolve("000.00.00.X99")
    assert caught.value.code == "CODE_UNKNOWN"
    assert "000.00.00.X99" in caught.value.text_en


def test_merged_code_resolves_to_successor_chain() -> None:
    directory = make(
        Agency("A", "old", status="merged", successors=("B",)),
        Agency("B", "middle", status="merged", successors=("C",), old_code="B0"),
        Agency("C", "live", endpoint=Endpoint("push", url="https://c.example/in")),
    )
    resolution = directory.resolve("A")
    assert resolution.agency.code == "C"
    assert resolution.via == ("A", "B")
    assert resolution.redirected
    assert directory.resolve("B0").via == ("B",)
    assert resolution.agency.endpoint.url == "https://c.example/in"


def test_dissolved_is_refused_naming_successors() -> None:
    directory = make(
        Agency("S", "split", status="dissolved", successors=("S1", "S2")),
        Agency("S1", "one"),
        Agency("S2", "two"),
        Agency("D", "gone", status="dissolved"),
    )
    with pytest.raises(AgencyDissolved) as caught:
        directory.resolve("S")
    assert "S1" in caught.value.text_vi and "S2" in caught.value.text_en
    assert caught.value.successors == ("S1", "S2")
    with pytest.raises(AgencyDissolved):
        directory.resolve("D")


def test_merge_into_dissolved_or_missing_successor_is_refused() -> None:
    directory = make(
        Agency("A", "a", status="merged", successors=("GONE",)),
        Agency("B", "b", status="merged", successors=("C",)),
        Agency("C", "c", status="dissolved"),
    )
    with pytest.raises(AgencyDissolved):
        directory.resolve("A")
    with pytest.raises(AgencyDissolved):
        directory.resolve("B")


def test_successor_cycle_does_not_loop_forever() -> None:
    directory = make(
        Agency("A", "a", status="merged", successors=("B",)),
        Agency("B", "b", status="merged", successors=("A",)),
    )
    with pytest.raises(AgencyDissolved):
        directory.resolve("A")


def test_suspended_is_refused_even_through_a_merge() -> None:
    directory = make(
        Agency("A", "a", status="merged", successors=("B",)),
        Agency("B", "b", status="suspended"),
    )
    with pytest.raises(AgencyInactive) as caught:
        directory.resolve("A")
    assert caught.value.code == "AGENCY_INACTIVE"
    with pytest.raises(AgencyInactive):
        directory.resolve("B")


def test_future_effective_date_keeps_agency_active() -> None:
    later = NOW + timedelta(days=10)
    earlier = NOW - timedelta(days=1)
    directory = make(
        Agency("A", "a", status="merged", successors=("B",), effective_at=later),
        Agency("B", "b"),
        Agency("C", "c", status="dissolved", effective_at=later),
        Agency("D", "d", status="merged", successors=("B",), effective_at=earlier),
    )
    assert directory.resolve("A").agency.code == "A"
    assert directory.resolve("C").agency.code == "C"
    assert directory.resolve("D").agency.code == "B"


def test_put_replaces_and_reindexes_old_code_and_systems() -> None:
    directory = make(Agency("A", "a", old_code="OLD", systems=("qlvb-1",)))
    assert directory.agencies_for_system("qlvb-1") == frozenset({"A"})
    directory.put(Agency("A", "a2", old_code="NEW", systems=("qlvb-2",)))
    assert directory.get("OLD") is None
    assert directory.get("NEW").name == "a2"  # type: ignore[union-attr]
    assert directory.agencies_for_system("qlvb-1") == frozenset()
    assert directory.agencies_for_system("qlvb-2") == frozenset({"A"})
    directory.remove("A")
    assert directory.get("NEW") is None and len(directory) == 0


def test_record_activity_keeps_latest() -> None:
    directory = make(Agency("A", "a", old_code="OA"))
    directory.record_activity("OA", NOW)
    directory.record_activity("A", NOW - timedelta(days=1))
    assert directory.last_activity("A") == NOW


def test_in_memory_directory_satisfies_protocol() -> None:
    assert isinstance(make(), Directory)


def test_record_round_trip() -> None:
    agency = Agency(
        "000.01.41.H41",
        "Văn phòng UBND Tỉnh Nghệ An",
        old_code="H41.01",
        parent_code="000.00.00.H41",
        status="merged",
        successors=("000.00.00.H41",),
        endpoint=Endpoint("peer", node="axis"),
        systems=("qlvb-na",),
        certificates=("ab" * 32,),
        level=2,
        effective_at=NOW,
        mail="vp@nghean.gov.vn",
    )
    assert agency_from_record(agency_to_record(agency)) == agency


@pytest.mark.parametrize(
    "record",
    [
        {"code": "", "name": "x"},
        {"code": "A", "name": ""},
        {"code": "A", "name": "x", "status": "asleep"},
        {"code": "A", "name": "x", "endpoint_kind": "fax"},
    ],
)
def test_bad_records_are_refused(record: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        agency_from_record(record)


def test_sample_csv_loads_and_resolves() -> None:
    directory = InMemoryDirectory.from_csv(SAMPLE)
    assert directory.resolve("000.00.00.G22").agency.name == "Văn phòng Chính phủ"
    assert directory.resolve("000.00.00.H41").agency.name == "UBND Tỉnh Nghệ An"
    assert directory.resolve("H41.02").agency.code == "000.02.41.H41"
    merged = directory.resolve("000.00.00.G06")
    assert merged.agency.code == "000.00.00.G07" and merged.via == ("000.00.00.G06",)
    with pytest.raises(AgencyDissolved):
        directory.resolve("H41.30")
    codes = {a.code for a in directory}
    assert {f"000.00.00.H{i:02d}" for i in range(1, 64)} <= codes
    assert [a.code for a in directory.children("000.00.00.G22")] == [
        "000.00.01.G22",
        "000.00.04.G22",
    ]
    assert directory.search("nghệ an", limit=3)
