"""Running a training's members at once: a failing member stops the others, and its
error (not their cancel) is what the caller sees."""

from __future__ import annotations

import threading
import time

import pytest

from retrain.finetune.availability import availability
from retrain.finetune.errors import TrainingCancelled

pytestmark = [
    pytest.mark.finetune,
    pytest.mark.skipif(not availability().available, reason=availability().reason),
]
soup = pytest.importorskip("retrain.finetune.soup", exc_type=ImportError)


def _member_until_aborted(abort: threading.Event, started: threading.Event):
    def run() -> str:
        started.set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if abort.is_set():
                raise TrainingCancelled()
            time.sleep(0.01)
        return "ran for 30 s"

    return run


def test_a_failing_member_stops_the_others_and_its_error_is_raised() -> None:
    abort, started = threading.Event(), threading.Event()

    def failing() -> str:
        started.wait(5)
        raise ValueError("this member failed")

    began = time.monotonic()
    with pytest.raises(ValueError, match="this member failed"):
        soup.run_members([_member_until_aborted(abort, started), failing], abort)
    assert abort.is_set()
    assert time.monotonic() - began < 5  # the other member stopped at its next check


def test_members_return_their_results_in_order() -> None:
    abort = threading.Event()
    assert soup.run_members([lambda: 1, lambda: 2, lambda: 3], abort) == [1, 2, 3]
    assert not abort.is_set()


def test_mean_epoch_losses_average_the_members_that_ran_each_epoch() -> None:
    assert soup.mean_epoch_losses([[1.0, 0.5, 0.25], [3.0, 0.5]]) == [2.0, 0.5, 0.25]
