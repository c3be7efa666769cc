"""The alert rules are true: each fires on its condition and clears, proven by the real promtool.

``tests/ops/alerts_test.yml`` holds the series and the expected alerts; these tests run
``promtool test rules`` on it, check that it covers every alert of
``config/prometheus/alerts.yml`` both firing and cleared, that it fails when the rules are
broken (so it really tests them), that every metric an alert reads is one the gateway
exports, and that every ``edoc-gateway`` command an alert names exists with its options.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from gateway.cli import app
from gateway.ops import metrics

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "config" / "prometheus" / "alerts.yml"
TESTS = Path(__file__).with_name("alerts_test.yml")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

pytestmark = pytest.mark.integration


def promtool_test(test_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, "test", "rules", str(test_file)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def rule_tests() -> list[dict[str, Any]]:
    data = yaml.safe_load(TESTS.read_text(encoding="utf-8"))
    return [case for test in data["tests"] for case in test["alert_rule_test"]]


def _minutes(value: str) -> float:
    total = 0.0
    for amount, unit in re.findall(r"(\d+)([hms])", value):
        total += int(amount) * {"h": 60, "m": 1, "s": 1 / 60}[unit]
    return total


def test_promtool_passes_every_alert_test() -> None:
    result = promtool_test(TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_tested_firing_and_then_cleared() -> None:
    names = {rule["alert"] for rule in rules()}
    assert len(names) == 14
    cases = rule_tests()
    for name in sorted(names):
        mine = [c for c in cases if c["alertname"] == name]
        fired = [_minutes(c["eval_time"]) for c in mine if c.get("exp_alerts")]
        quiet = [_minutes(c["eval_time"]) for c in mine if not c.get("exp_alerts")]
        assert fired, f"{name} is never tested firing"
        assert any(q < min(fired) for q in quiet), f"{name} is not tested quiet before firing"
        assert any(q > max(fired) for q in quiet), f"{name} is not tested cleared after firing"
    assert {c["alertname"] for c in cases} <= names


def _rewrite(tmp_path: Path, expr: str) -> Path:
    data = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    for group in data["groups"]:
        for rule in group["rules"]:
            rule["expr"] = expr
    broken = tmp_path / "alerts.yml"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    tests = yaml.safe_load(TESTS.read_text(encoding="utf-8"))
    tests["rule_files"] = [str(broken)]
    test_file = tmp_path / "alerts_test.yml"
    test_file.write_text(yaml.safe_dump(tests, allow_unicode=True), encoding="utf-8")
    return test_file


@pytest.mark.parametrize("expr", ["vector(1) < 0", "vector(1)"], ids=["never", "always"])
def test_the_tests_fail_for_every_alert_when_the_rules_are_wrong(tmp_path: Path, expr: str) -> None:
    """Rules that never fire (or never clear) fail the test of every single alert."""
    result = promtool_test(_rewrite(tmp_path, expr))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    failed = set(re.findall(r"alertname: (\w+)", output))
    assert failed == {rule["alert"] for rule in rules()}, output[-3000:]


def test_every_metric_an_alert_reads_is_exported_by_the_gateway() -> None:
    exported = {"up"}  # Prometheus' own scrape health
    for names in metrics.REGISTRY._collector_to_names.values():
        exported.update(names)
    for rule in rules():
        for name in re.findall(r"\b(edoc_gateway_\w+|up)\b", rule["expr"]):
            assert name in exported, f"{rule['alert']} reads {name}, which nothing exports"


def _commands_named() -> list[list[str]]:
    found = []
    for rule in rules():
        text = " ".join(str(v) for v in rule.get("annotations", {}).values())
        for command in re.findall(r"`edoc-gateway ([^`]+)`", text):
            found.append(command.split())
    return found


def test_every_command_an_alert_names_exists() -> None:
    commands = _commands_named()
    assert len(commands) >= 3
    root = typer.main.get_command(app)
    for words in commands:
        command: Any = root
        ctx = typer.Context(root)
        rest = list(words)
        while hasattr(command, "get_command") and rest and not rest[0].startswith("-"):
            sub = command.get_command(ctx, rest[0])
            assert sub is not None, f"`edoc-gateway {' '.join(words)}`: no command {rest[0]}"
            command, rest = sub, rest[1:]
        assert not hasattr(command, "get_command"), f"`{' '.join(words)}` names a group"
        options = {opt for param in command.params for opt in param.opts}
        for word in rest:
            if word.startswith("-"):
                assert word in options, f"`edoc-gateway {' '.join(words)}`: no option {word}"
            else:  # a placeholder such as FILE must be a positional argument
                kinds = {p.param_type_name for p in command.params}
                assert "argument" in kinds, f"`edoc-gateway {' '.join(words)}`: no argument"
