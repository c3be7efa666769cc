"""Tests of gateway.core.statuses: the SPEC §4 state machine per (document, recipient)."""

from __future__ import annotations

import pytest

from gateway.core.statuses import check_transition, current_state
from gateway.errors import StatusTransitionInvalid


@pytest.mark.parametrize(
    ("history", "new"),
    [
        ([], 1),
        ([], 3),  # a receiver that registers at once
        ([1], 1),  # gateway 01 on ack, receiver 01 again
        ([1], 2),
        ([1], 3),
        ([1, 3], 4),
        ([1, 3], 5),  # 04 may be skipped
        ([1, 3, 4], 5),
        ([1, 3, 4, 5], 5),  # progress reported twice
        ([1, 3, 4, 5], 6),
        ([1], 13),
        ([1, 3, 5, 6], 13),
        ([1, 13], 15),
        ([1, 13], 16),
        ([1, 13, 16], 13),  # a refused recall may be asked again
        ([1, 13, 16], 3),  # processing goes on after a refused recall
        ([1, 13], 3),  # the receiver keeps processing while a recall is pending
    ],
)
def test_legal_transitions(history: list[int], new: int) -> None:
    check_transition(history, new)


@pytest.mark.parametrize(
    ("history", "new"),
    [
        ([], 4),
        ([], 6),
        ([1], 5),
        ([1, 2], 3),  # refused is final
        ([1, 3], 3),
        ([1, 3, 5, 6], 5),  # finished is final
        ([1, 3], 1),
        ([1], 15),  # no recall pending
        ([1, 13], 13),  # already pending
        ([1, 13, 15], 3),  # withdrawn
        ([1, 13, 15], 13),
        ([1], 7),  # unknown code
    ],
)
def test_illegal_transitions(history: list[int], new: int) -> None:
    with pytest.raises(StatusTransitionInvalid) as info:
        check_transition(history, new)
    assert info.value.http_status == 409
    assert info.value.code == "STATUS_TRANSITION"


def test_current_state_splits_processing_and_recall() -> None:
    assert current_state([]) == (None, None)
    assert current_state([1, 3, 13, 5]) == (5, 13)
    assert current_state([1, 13, 16]) == (1, 16)
