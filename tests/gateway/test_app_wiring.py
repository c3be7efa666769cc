"""The composition root wires what the configuration asks for."""

from __future__ import annotations

from pathlib import Path

from gateway.app import _transports, _upstream_link, build_app
from gateway.config import load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "gateway.example.toml"


def test_example_configuration_loads_and_builds() -> None:
    settings = load_settings(EXAMPLE)
    app = build_app(settings, with_workers=True)
    prefixes = {getattr(r, "canonical", "") for r in app.router.resources()}
    assert {"/v1", "/vxp", "/services/eDoc", "/EdocService", "/admin/v1"} <= prefixes
    assert settings.upstream is None
    assert _upstream_link(settings) is None


def test_upstream_setting_adds_the_peer_transport(tmp_path: Path) -> None:
    settings = load_settings(
        EXAMPLE,
        upstream={
            "name": "axis",
            "url": "http://127.0.0.1:9/vxp",
            "system_id": "node-a",
            "secret": "s3cret",
            "extra_agencies": ["000.00.00.G22"],
        },
    )
    link = _upstream_link(settings)
    assert link is not None and link.secret == "s3cret"
    assert link.extra_agencies == ("000.00.00.G22",)
    app = build_app(settings)
    transports = _transports(app, settings)
    assert {"mailbox", "peer"} <= set(transports)
    assert "s3cret" not in repr(settings)
