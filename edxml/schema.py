"""XSD validation of edXML packets against ``schemas/edxml-document.xsd`` and
``schemas/edxml-status.xsd``.

The schemas are read once, at import, from the package-relative ``schemas/`` folder: that
read is the one file access the library makes. Which schema applies is decided from the
tree the same way the parser decides the packet kind.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from .errors import SchemaInvalid, WrongNamespace
from .model import NAMESPACE

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
_NS = f"{{{NAMESPACE}}}"


def _load(name: str) -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / name), parser))


DOCUMENT_SCHEMA = _load("edxml-document.xsd")
STATUS_SCHEMA = _load("edxml-status.xsd")


def is_status(root: etree._Element) -> bool:
    """True when the tree holds a status message (``Status``, or a ``MessageHeader``
    with ``StatusCode``/``ResponseFor`` and no ``To``)."""
    header = root.find(f"{_NS}edXMLEnvelope/{_NS}edXMLHeader")
    if header is None:
        return False
    if header.find(f"{_NS}Status") is not None:
        return True
    message = header.find(f"{_NS}MessageHeader")
    if message is None or message.find(f"{_NS}To") is not None:
        return False
    return message.find(f"{_NS}StatusCode") is not None or (
        message.find(f"{_NS}ResponseFor") is not None
    )


def validate_schema(root: etree._Element) -> None:
    """Validate a parsed packet against the document or status schema.

    Raises ``WrongNamespace`` if the root is not ``edXML:edXML`` and ``SchemaInvalid``
    (with the path of the first offending element) if the packet breaks the schema.
    """
    if root.tag != f"{_NS}edXML":
        raise WrongNamespace(f"root element is {root.tag!r}", path="/")
    schema = STATUS_SCHEMA if is_status(root) else DOCUMENT_SCHEMA
    if schema.validate(root):
        return
    errors = schema.error_log.filter_from_errors()
    first = errors[0] if errors else schema.error_log.last_error
    message = first.message if first is not None else "invalid"
    path = _short_path(first.path) if first is not None and first.path else ""
    raise SchemaInvalid(f"{message} (line {first.line})" if first else message, path=path)


def _short_path(path: str) -> str:
    # lxml reports "/edXML:edXML/edXML:edXMLEnvelope/..." or "/*/*[1]"; drop the prefixes.
    parts = [p.split(":", 1)[-1] for p in path.split("/")]
    return "/".join(parts)
