"""Hardened XML reading: the one place where untrusted bytes become an lxml tree.

No DTD, no entities, no network; our own limits on size, nesting depth and text-node length
replace libxml2's (``huge_tree`` is on because 100 MB base64 attachments are legitimate).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from .errors import DtdForbidden, LimitExceeded, NotWellFormed


@dataclass(frozen=True)
class Limits:
    """Limits enforced while reading untrusted bytes."""

    max_bytes: int = 150 * 2**20
    max_depth: int = 64
    max_text_bytes: int = 140 * 2**20


DEFAULT_LIMITS = Limits()

# One shared parser: lxml parsers are reusable and thread-safe for fromstring().
# huge_tree is needed for 100 MB base64 text nodes; our own Limits replace libxml2's.
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=True,
    remove_comments=False,
    collect_ids=False,
)


@lru_cache(maxsize=8)
def _too_deep(max_depth: int) -> etree.XPath:
    # True when an element exists at depth max_depth + 1; evaluated in C, no Python walk.
    return etree.XPath("boolean(/" + "/*" * (max_depth + 1) + ")")


@lru_cache(maxsize=8)
def _text_too_long(max_text: int) -> etree.XPath:
    return etree.XPath(f"boolean(//text()[string-length(.) > {int(max_text)}])")


def safe_fromstring(data: bytes, limits: Limits = DEFAULT_LIMITS) -> etree._Element:
    """Parse untrusted bytes into an lxml element with every hostile-XML defence on.

    Refuses DOCTYPEs (``DtdForbidden``), documents over the size, depth or text-node limits
    (``LimitExceeded``), and bytes that are not well-formed UTF-8 XML (``NotWellFormed``).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise NotWellFormed("expected bytes")
    size = len(data)
    if size > limits.max_bytes:
        raise LimitExceeded(f"{size} bytes > {limits.max_bytes}")
    if size == 0:
        raise NotWellFormed("empty document")
    if _PROLOG_DOCTYPE.match(data):
        raise DtdForbidden("DOCTYPE present", path="/")
    try:
        root = etree.fromstring(bytes(data) if not isinstance(data, bytes) else data, _PARSER)
    except etree.XMLSyntaxError as exc:
        if _mentions_dtd(exc):
            raise DtdForbidden(str(exc), path="/") from exc
        if "depth" in str(exc).lower():
            raise LimitExceeded(_syntax_detail(exc), path="/") from exc
        raise NotWellFormed(_syntax_detail(exc), path="/") from exc
    except (ValueError, TypeError) as exc:
        raise NotWellFormed(str(exc)) from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise DtdForbidden("DOCTYPE present")
    encoding = (docinfo.encoding or "UTF-8").upper().replace("_", "-")
    if encoding not in ("UTF-8", "UTF8", "US-ASCII", "ASCII"):
        raise NotWellFormed(f"encoding must be UTF-8, not {docinfo.encoding}")
    if _too_deep(limits.max_depth)(root):
        raise LimitExceeded(f"nesting deeper than {limits.max_depth}")
    if size > limits.max_text_bytes and _text_too_long(limits.max_text_bytes)(root):
        raise LimitExceeded(f"text node longer than {limits.max_text_bytes}")
    return root


def _mentions_dtd(exc: etree.XMLSyntaxError) -> bool:
    text = str(exc).lower()
    return any(word in text for word in ("doctype", "dtd", "entitydecl", "amplification"))


# The prolog ends where the root element starts; a DOCTYPE can only sit before it.
_PROLOG_DOCTYPE = re.compile(rb"\A(?:<\?[^>]*\?>|<!--.*?-->|\s)*<!DOCTYPE", re.DOTALL)


def _syntax_detail(exc: etree.XMLSyntaxError) -> str:
    return str(exc.msg or exc)
