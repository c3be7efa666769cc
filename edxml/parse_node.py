"""An order-insensitive view of one element's children, for reading edXML trees.

Children are indexed by local name in the edXML namespace (unprefixed ones are tolerated:
some producers reset ``xmlns=""``); comments, processing instructions and foreign elements
are ignored. Every read value carries the path it came from, so errors can say where.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TypeVar

from lxml import etree

from .errors import FieldInvalid
from .model import NAMESPACE
from .parse_values import text_of, to_date, to_datetime, to_int

_T = TypeVar("_T")


def local_name(el: etree._Element) -> str | None:
    """Return the element's local name if it is edXML (or unqualified), else ``None``."""
    tag = el.tag
    if not isinstance(tag, str):
        return None  # comment or processing instruction
    if tag[0] == "{":
        ns, _, name = tag[1:].partition("}")
        return name if ns == NAMESPACE else None
    return tag  # no namespace: tolerated (some producers reset xmlns="")


class Node:
    """Children of one element indexed by local name, in document order."""

    __slots__ = ("by_name", "el", "path")

    def __init__(self, el: etree._Element, path: str) -> None:
        self.el = el
        self.path = path
        self.by_name: dict[str, list[etree._Element]] = {}
        for child in el:
            name = local_name(child)
            if name is not None:
                self.by_name.setdefault(name, []).append(child)

    def has(self, *names: str) -> bool:
        """Whether a child of any of ``names`` is present."""
        return any(name in self.by_name for name in names)

    def first(self, *names: str) -> etree._Element | None:
        """The first child of the first of ``names`` that is present."""
        for name in names:
            found = self.by_name.get(name)
            if found:
                return found[0]
        return None

    def all(self, name: str) -> list[etree._Element]:
        """Every child called ``name``, in document order."""
        return self.by_name.get(name, [])

    def child(self, *names: str) -> Node | None:
        """A node for the first child of the first of ``names`` that is present."""
        el = self.first(*names)
        return None if el is None else Node(el, f"{self.path}/{local_name(el)}")

    def children(self, name: str) -> list[Node]:
        """A node for every child called ``name``, with indexed paths."""
        return [Node(el, f"{self.path}/{name}[{i}]") for i, el in enumerate(self.all(name), 1)]

    def text(self, name: str) -> str | None:
        """The text of the first child ``name`` (``None`` when absent)."""
        el = self.first(name)
        return None if el is None else text_of(el)

    def required(self, name: str) -> str:
        """The text of the first child ``name``; ``FieldInvalid`` when absent."""
        value = self.text(name)
        if value is None:
            raise FieldInvalid(f"{name} is required", path=f"{self.path}/{name}")
        return value

    def integer(self, name: str) -> int | None:
        """The child ``name`` read as an integer (``None`` when absent or empty)."""
        return self._convert(name, to_int)

    def day(self, name: str) -> date | None:
        """The child ``name`` read as a date (``None`` when absent or empty)."""
        return self._convert(name, to_date)

    def instant(self, name: str) -> datetime | None:
        """The child ``name`` read as a timestamp (``None`` when absent or empty)."""
        return self._convert(name, to_datetime)

    def _convert(self, name: str, conv: Callable[[str], _T]) -> _T | None:
        value = self.text(name)
        if not value:
            return None
        try:
            return conv(value)
        except ValueError as exc:
            raise FieldInvalid(f"{name}: {value!r}", path=f"{self.path}/{name}") from exc
