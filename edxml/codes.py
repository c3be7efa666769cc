"""Electronic identifier codes of agencies (mã định danh điện tử, QĐ 20/2020/QĐ-TTg).

General form: at most 35 characters of ``A-Z``, ``0-9`` and ``.``, non-empty groups
separated by ``.``. The QCVN 102 form in daily use is four groups with the level-1 code on
the right (``000.00.00.G22``); shorter forms such as ``28.22.H17`` exist, and local
platforms issue codes with the level-1 code on the left (``H37.DN.001``). Every accepted
code holds a level-1 group at one end: a prefix letter (A-K) and two characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import CodeInvalid

_GENERAL = re.compile(r"[A-Z0-9]+(?:\.[A-Z0-9]+)*")
_LEVEL1 = re.compile(r"[A-K][0-9A-Z]{2}")
QCVN102_FORM = re.compile(r"[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-K][0-9A-Z]{2}")
MAX_LENGTH = 35

PREFIX_GROUPS: dict[str, str] = {
    "A": "Cơ quan của Đảng",
    "B": "Văn phòng Chủ tịch nước",
    "C": "Cơ quan của Quốc hội",
    "D": "Tòa án nhân dân",
    "E": "Viện kiểm sát nhân dân",
    "F": "Kiểm toán nhà nước",
    "G": "Bộ, cơ quan ngang bộ, cơ quan thuộc Chính phủ",
    "H": "Ủy ban nhân dân tỉnh, thành phố trực thuộc Trung ương",
    "I": "Tổ chức chính trị - xã hội (nhóm I)",
    "J": "Cơ quan, tổ chức khác (nhóm J)",
    "K": "Cơ quan, tổ chức khác (nhóm K)",
}
"""Level-1 prefix letters and the group of agencies each one names (SPEC §2)."""

# G01-G22 follow the official order (ministries, then ministerial-level agencies, alphabetical
# without diacritics); checked against codes seen on the wire (G01 Công an, G12 Tài chính,
# G17 Xây dựng, G18 Y tế, G22 Văn phòng Chính phủ). G23-G40 are agencies under the
# Government and other central bodies: the names below are our best reading of the list and
# are NOT verified; names we could not place are generic.
_G_NAMES = [
    "Bộ Công an",
    "Bộ Công Thương",
    "Bộ Giáo dục và Đào tạo",
    "Bộ Giao thông vận tải",
    "Bộ Kế hoạch và Đầu tư",
    "Bộ Khoa học và Công nghệ",
    "Bộ Lao động - Thương binh và Xã hội",
    "Bộ Ngoại giao",
    "Bộ Nội vụ",
    "Bộ Nông nghiệp và Phát triển nông thôn",
    "Bộ Quốc phòng",
    "Bộ Tài chính",
    "Bộ Tài nguyên và Môi trường",
    "Bộ Thông tin và Truyền thông",
    "Bộ Tư pháp",
    "Bộ Văn hóa, Thể thao và Du lịch",
    "Bộ Xây dựng",
    "Bộ Y tế",
    "Ngân hàng Nhà nước Việt Nam",
    "Thanh tra Chính phủ",
    "Ủy ban Dân tộc",
    "Văn phòng Chính phủ",
    "Ban Quản lý Lăng Chủ tịch Hồ Chí Minh",  # unverified
    "Bảo hiểm xã hội Việt Nam",  # unverified
    "Đài Tiếng nói Việt Nam",  # unverified
    "Đài Truyền hình Việt Nam",  # unverified
    "Học viện Chính trị quốc gia Hồ Chí Minh",  # unverified
    "Thông tấn xã Việt Nam",  # unverified
    "Viện Hàn lâm Khoa học và Công nghệ Việt Nam",  # unverified
    "Viện Hàn lâm Khoa học xã hội Việt Nam",  # unverified
    "Ủy ban Quản lý vốn nhà nước tại doanh nghiệp",  # unverified
]
_G_NAMES += [f"Cơ quan trung ương G{n:02d}" for n in range(len(_G_NAMES) + 1, 41)]  # generic

# H01-H63: the 63 provinces in alphabetical order without diacritics (Đ as D), which matches
# every code seen on the wire (H14 Cao Bằng, H29 TP Hồ Chí Minh, H41 Nghệ An, H53 Tây Ninh).
# The 2025 merger of provinces (QĐ 09/2025) is not reflected here.
_H_NAMES = [
    "An Giang", "Bà Rịa - Vũng Tàu", "Bắc Giang", "Bắc Kạn", "Bạc Liêu", "Bắc Ninh",
    "Bến Tre", "Bình Định", "Bình Dương", "Bình Phước", "Bình Thuận", "Cà Mau", "Cần Thơ",
    "Cao Bằng", "Đà Nẵng", "Đắk Lắk", "Đắk Nông", "Điện Biên", "Đồng Nai", "Đồng Tháp",
    "Gia Lai", "Hà Giang", "Hà Nam", "Hà Nội", "Hà Tĩnh", "Hải Dương", "Hải Phòng",
    "Hậu Giang", "Hồ Chí Minh", "Hòa Bình", "Hưng Yên", "Khánh Hòa", "Kiên Giang", "Kon Tum",
    "Lai Châu", "Lâm Đồng", "Lạng Sơn", "Lào Cai", "Long An", "Nam Định", "Nghệ An",
    "Ninh Bình", "Ninh Thuận", "Phú Thọ", "Phú Yên", "Quảng Bình", "Quảng Nam", "Quảng Ngãi",
    "Quảng Ninh", "Quảng Trị", "Sóc Trăng", "Sơn La", "Tây Ninh", "Thái Bình", "Thái Nguyên",
    "Thanh Hóa", "Thừa Thiên Huế", "Tiền Giang", "Trà Vinh", "Tuyên Quang", "Vĩnh Long",
    "Vĩnh Phúc", "Yên Bái",
]  # fmt: skip
_CITIES = {"Cần Thơ", "Đà Nẵng", "Hà Nội", "Hải Phòng", "Hồ Chí Minh"}

LEVEL1: dict[str, str] = {f"G{i:02d}": name for i, name in enumerate(_G_NAMES, 1)} | {
    f"H{i:02d}": f"UBND {'thành phố' if name in _CITIES else 'tỉnh'} {name}"
    for i, name in enumerate(_H_NAMES, 1)
}
"""Level-1 codes G01–G40 (central agencies) and H01–H63 (provinces) with their names."""


@dataclass(frozen=True, slots=True)
class AgencyCode:
    """A parsed identifier code: its groups and its level-1 unit."""

    text: str
    groups: tuple[str, ...]
    level1: str
    level1_name: str
    qcvn102: bool  # the four-group form 000.00.00.X00

    @property
    def prefix(self) -> str:
        """Prefix letter of the level-1 group (``G``, ``H``, ``A`` …)."""
        return self.level1[0]


def parse_code(text: str) -> AgencyCode:
    """Parse an identifier code; raises ``CodeInvalid`` saying what is wrong."""
    if not isinstance(text, str) or not text:
        raise CodeInvalid("empty code")
    if len(text) > MAX_LENGTH:
        raise CodeInvalid(f"{text!r}: longer than {MAX_LENGTH} characters")
    if _GENERAL.fullmatch(text) is None:
        raise CodeInvalid(f"{text!r}: only A-Z, 0-9 and non-empty groups separated by '.'")
    groups = tuple(text.split("."))
    level1 = next((g for g in (groups[-1], groups[0]) if _LEVEL1.fullmatch(g)), None)
    if level1 is None:
        raise CodeInvalid(f"{text!r}: no level-1 group (A-K and two characters) at either end")
    name = LEVEL1.get(level1)
    if name is None:
        if level1[0] in "GH":
            raise CodeInvalid(f"{text!r}: unknown level-1 code {level1}")
        name = PREFIX_GROUPS[level1[0]]
    return AgencyCode(
        text=text,
        groups=groups,
        level1=level1,
        level1_name=name,
        qcvn102=QCVN102_FORM.fullmatch(text) is not None,
    )


def is_valid_code(text: str) -> bool:
    """True when ``text`` is an acceptable identifier code."""
    try:
        parse_code(text)
    except CodeInvalid:
        return False
    return True
