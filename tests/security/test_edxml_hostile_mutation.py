"""Property: mutated real packets never make anything but ``EdxmlError`` escape the pipeline,
and every error carries its code, both messages and a path.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edxml.errors import EdxmlError
from edxml.pipeline import check_packet
from tests.conformance import OWN_DIR, OWN_NAMES
from tests.security.edxml_forge import REAL, TODAY, Pki

# The third-party samples when present, and always the project's own packets.
_REAL_PACKETS = [p for p in sorted(REAL.glob("*.edxml")) if p.stat().st_size < 20_000] + [
    OWN_DIR / name for name in OWN_NAMES
]


def _mutate(draw: st.DrawFn, data: bytearray) -> bytes:
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate"]))
        if op == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from(_SNIPPETS))
        elif op == "truncate":
            del data[pos:]
        else:
            end = min(len(data), pos + draw(st.integers(1, 200)))
            data[pos:pos] = data[pos:end]
        if not data:
            break
    return bytes(data)


_SNIPPETS = [
    b"<",
    b">",
    b"&",
    b"<!--x-->",
    b"<!DOCTYPE x>",
    b"\xff\xfe",
    b"]]>",
    b"<edXML:To/>",
    b"&amp;",
    b"\x00",
    b"<?pi x?>",
    b"xmlns:a='b'",
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(choice=st.data(), policy=st.sampled_from(["strict", "legacy", "off"]))
def test_mutated_packets_raise_only_edxml_errors(
    pki: Pki, signed: bytes, choice: st.DataObject, policy: str
) -> None:
    sources = [signed, *(path.read_bytes() for path in _REAL_PACKETS)]
    data = _mutate(choice.draw, bytearray(choice.draw(st.sampled_from(sources))))
    try:
        result = check_packet(data, policy=policy, trust_anchors=[pki.root.cert], today=TODAY)
    except EdxmlError as err:
        assert err.code and err.message_vi and err.message_en
        assert err.path.startswith("/")
    else:
        assert result.packet.sender
