"""Every refusal class a packet can meet, through the VXP and hub doors' tables.

The classes are found by walking the error modules (core, edXML, legal review), so a new
error gets a checked answer at these doors or this test fails: VXP a documented non-zero
``ErrorCode`` with a bilingual ``ErrorDesc`` and the stable code; the hub a ``Report`` Error
with the stable code and both texts; hub REST v2 401 for credentials only. The native REST
and admin tables are tested with their doors.
"""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

from adapters.soap.refusals import INTERNAL, hub_rest_status, report_error
from adapters.vxp import errors as vxp
from edxml import errors as edxml_errors
from gateway import errors as core
from gateway.legal import errors as legal

DOCUMENTED = {"10", "15", "18", "19", "20", "21", "22", "23", "24"}


def refusal_classes(*modules: ModuleType) -> list[type[Exception]]:
    found = {
        cls
        for module in modules
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, core.GatewayError | edxml_errors.EdxmlError)
        and cls not in (core.GatewayError, edxml_errors.EdxmlError)  # the roots: no refusal
    }
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__name__}")


CLASSES = refusal_classes(core, edxml_errors, legal)


def test_the_walk_finds_the_refusals_of_every_module() -> None:
    names = {c.__name__ for c in CLASSES}
    assert {"RecipientNotAllowed", "DuplicateMessage", "SchemaInvalid", "MessageGone"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_refusal_has_an_answer_at_the_vxp_and_hub_doors(cls: type[Exception]) -> None:
    error = cls()
    body = vxp.fail_body(error)
    assert body["status"] == "FAIL" and body["ErrorCode"] in DOCUMENTED, body
    assert body["code"] == error.code  # type: ignore[attr-defined]
    vi, _, en = body["ErrorDesc"].partition(" / ")
    assert vi and en
    report = report_error(error)
    assert report != INTERNAL and report.code == error.code  # type: ignore[attr-defined]
    vi, _, en = report.description.partition(" / ")
    assert vi and en
    assert hub_rest_status(error) == (401 if isinstance(error, core.AuthError) else 200)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (core.RecipientNotAllowed(), "23"),  # as a locked recipient: it does not take this one
        (core.SenderNotAllowed(), "19"),
        (core.MaintenanceMode(), "20"),  # "try again later"
        (core.DuplicateMessage(), "20"),  # only a commit still racing: the resend is answered OK
    ],
)
def test_the_vxp_numbers_of_access_decisions(error: Exception, code: str) -> None:
    assert vxp.vxp_error_code(error) == code


def test_an_unexpected_error_leaks_nothing_at_either_door() -> None:
    secret = RuntimeError("password=hunter2")
    assert "hunter2" not in str(vxp.fail_body(secret))
    assert report_error(secret) == INTERNAL
    assert hub_rest_status(secret) == 200
