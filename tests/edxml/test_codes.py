"""Tests for edxml/codes.py: identifier codes of QĐ 20/2020 and QCVN 102."""

from __future__ import annotations

import pytest

from edxml.codes import LEVEL1, PREFIX_GROUPS, is_valid_code, parse_code
from edxml.errors import CodeInvalid


@pytest.mark.parametrize(
    ("text", "level1", "name", "qcvn102"),
    [
        ("000.00.00.G22", "G22", "Văn phòng Chính phủ", True),
        ("000.00.00.H41", "H41", "UBND tỉnh Nghệ An", True),
        ("000.00.00.H14", "H14", "UBND tỉnh Cao Bằng", True),
        ("000.00.00.H29", "H29", "UBND thành phố Hồ Chí Minh", True),
        ("000.00.11.H53", "H53", "UBND tỉnh Tây Ninh", True),
        ("000.00.04.G14", "G14", "Bộ Thông tin và Truyền thông", True),
        ("000.00.32.G12", "G12", "Bộ Tài chính", True),
        ("28.22.H17", "H17", LEVEL1["H17"], False),
        ("H37.DN.001", "H37", LEVEL1["H37"], False),
        ("000.00.01.A53", "A53", PREFIX_GROUPS["A"], True),
        ("000.00.00.B01", "B01", PREFIX_GROUPS["B"], True),
        ("001.00.20.JB2", "JB2", PREFIX_GROUPS["J"], True),
    ],
)
def test_valid_codes(text: str, level1: str, name: str, qcvn102: bool) -> None:
    code = parse_code(text)
    assert code.level1 == level1
    assert code.level1_name == name
    assert code.qcvn102 is qcvn102
    assert code.groups == tuple(text.split("."))
    assert code.text == text
    assert is_valid_code(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "000.00.00.g22",  # lower case
        "000..00.G22",  # empty group
        ".000.00.00.G22",
        "000.00.00.G22.",
        "000-00-00-G22",
        "12345",  # no level-1 group
        "000.00.00.Z22",  # Z is no prefix
        "000.00.00.G41",  # outside G01-G40
        "000.00.00.H64",  # outside H01-H63
        "000.00.00.H00",
        "A" * 33 + ".G22",  # longer than 35
        "000.00.00.G22 ",
    ],
)
def test_invalid_codes(text: str) -> None:
    assert not is_valid_code(text)
    with pytest.raises(CodeInvalid) as info:
        parse_code(text)
    assert info.value.code == "CODE_INVALID"
    assert info.value.text_vi.startswith("Mã định danh không hợp lệ")


def test_level1_table_is_complete() -> None:
    assert [k for k in LEVEL1 if k[0] == "G"] == [f"G{i:02d}" for i in range(1, 41)]
    assert [k for k in LEVEL1 if k[0] == "H"] == [f"H{i:02d}" for i in range(1, 64)]
    assert all(name and name == name.strip() for name in LEVEL1.values())
    assert LEVEL1["G22"] == "Văn phòng Chính phủ"
    assert LEVEL1["H01"] == "UBND tỉnh An Giang" and LEVEL1["H63"] == "UBND tỉnh Yên Bái"
    assert set(PREFIX_GROUPS) == set("ABCDEFGHIJK")


def test_thirty_five_characters_accepted() -> None:
    text = "1" * 31 + ".G22"
    assert len(text) == 35
    assert parse_code(text).level1 == "G22"
