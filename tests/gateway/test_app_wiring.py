"""The composition root wires what the configuration asks for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from gateway.app import _transports, _upstream_link, build_app
from gateway.config import Settings, load_settings
from tests.pki import make_ca

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "gateway.example.toml"


def _example(tmp_path: Path, **overrides: object) -> Settings:
    """The example configuration with its trust anchor where it names it (``var/dev``)."""
    anchor = tmp_path / "ca.cert.pem"
    anchor.write_bytes(make_ca("Example CA").cert.public_bytes(Encoding.PEM))
    return load_settings(EXAMPLE, trust={"anchors": [str(anchor)]}, **overrides)


def test_example_configuration_loads_and_builds(tmp_path: Path) -> None:
    settings = _example(tmp_path)
    app = build_app(settings, with_workers=True)
    prefixes = {getattr(r, "canonical", "") for r in app.router.resources()}
    assert {"/v1", "/vxp", "/services/eDoc", "/EdocService", "/admin/v1"} <= prefixes
    assert settings.upstream is None
    assert _upstream_link(settings) is None


def test_upstream_setting_adds_the_peer_transport(tmp_path: Path) -> None:
    settings = _example(
        tmp_path,
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


def test_serve_refuses_missing_node_files_cleanly(tmp_path: Path) -> None:
    """The trust anchors are read when the application is built: a missing file is one clear
    bilingual line and exit code 2, before any port is bound."""
    config = tmp_path / "gateway.toml"
    config.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace("var/dev/ca.cert.pem", str(tmp_path / "x.pem")),
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-c", "from gateway.cli import main; main()", "serve", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "không đọc được" in done.stderr and "x.pem" in done.stderr
    assert "Traceback" not in done.stderr
