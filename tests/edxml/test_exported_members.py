"""The public surface of ``edxml`` is listed once and every listed name exists."""

from __future__ import annotations

import sys

import edxml
from edxml.errors import all_error_classes


def test_all_exported_names_exist() -> None:
    missing = [name for name in edxml.__all__ if not hasattr(edxml, name)]
    assert missing == []


def test_top_level_functions_are_the_documented_ones() -> None:
    assert callable(edxml.parse) and callable(edxml.build)
    assert callable(edxml.sign) and callable(edxml.verify)


def test_edxml_imports_nothing_from_the_gateway() -> None:
    loaded = [name for name in sys.modules if name.split(".")[0] in {"gateway", "adapters"}]
    offenders = [
        module.__name__
        for module in list(sys.modules.values())
        if module is not None
        and getattr(module, "__name__", "").startswith("edxml")
        and any(
            getattr(value, "__module__", "").split(".")[0] in {"gateway", "adapters"}
            for value in vars(module).values()
        )
    ]
    assert offenders == [], loaded


def test_error_codes_are_unique_and_bilingual() -> None:
    classes = all_error_classes()
    codes = [cls.code for cls in classes]
    assert len(codes) == len(set(codes))
    for cls in classes:
        assert cls.message_vi and cls.message_en and cls.__doc__
