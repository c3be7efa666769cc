"""Tests of gateway.config: TOML + EDOC_ environment, immutability, validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.config import load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "gateway.example.toml"

TOML = """
[listen]
port = 9001
[amqp]
retry_ladder = [1, 2.5]
[[systems]]
id = "qlvb-a"
secret = "s3cret"
agencies = ["000.00.00.G22"]
policy = "strict"
"""


def _write(tmp_path: Path, text: str = TOML) -> Path:
    path = tmp_path / "gw.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_toml_values(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path))
    assert settings.listen.port == 9001
    assert settings.amqp.retry_ladder == (1.0, 2.5)
    assert settings.systems[0].agencies == ("000.00.00.G22",)
    assert settings.system("qlvb-a").policy == "strict"
    assert settings.system("nope") is None


def test_environment_wins_and_nests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDOC_LISTEN__HOST", "0.0.0.0")
    monkeypatch.setenv("EDOC_AMQP__URL", "amqp://u:p@127.0.0.1:5999/")
    settings = load_settings(_write(tmp_path))
    assert settings.listen.host == "0.0.0.0"
    assert settings.listen.port == 9001  # from the file, merged with the variable
    assert settings.amqp.url == "amqp://u:p@127.0.0.1:5999/"


def test_settings_are_immutable(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path))
    with pytest.raises(ValidationError):
        settings.listen.port = 1  # type: ignore[misc]


def test_secret_is_not_shown(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path))
    assert "s3cret" not in repr(settings)
    assert settings.systems[0].secret.get_secret_value() == "s3cret"


def test_unknown_policy_and_key_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        load_settings(_write(tmp_path, TOML.replace('"strict"', '"lenient"')))
    with pytest.raises(ValidationError):
        load_settings(_write(tmp_path, TOML + "\n[listen2]\nport = 1\n"))


def test_duplicate_system_ids_are_refused(tmp_path: Path) -> None:
    twice = TOML + '\n[[systems]]\nid = "qlvb-a"\nsecret = "x"\n'
    with pytest.raises(ValidationError):
        load_settings(_write(tmp_path, twice))


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_settings(tmp_path / "absent.toml")


def test_example_configuration_loads() -> None:
    settings = load_settings(EXAMPLE)
    assert settings.systems, "the example names at least one calling system"
    assert settings.store.url.startswith("sqlite")
    assert settings.calendar_file.name == "calendar.toml"


def test_delivery_shards_default_and_bounds(tmp_path: Path) -> None:
    assert load_settings(_write(tmp_path)).amqp.delivery_shards == 4
    assert load_settings(EXAMPLE).amqp.delivery_shards == 4
    assert load_settings(None, amqp={"delivery_shards": 1}).amqp.delivery_shards == 1
    for bad in (0, 65):
        with pytest.raises(ValidationError):
            load_settings(None, amqp={"delivery_shards": bad})
