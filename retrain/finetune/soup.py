"""Several trainings that differ only in example order, averaged (imports torch).

One fine-tuning on a few dozen corrections depends on the order it sees them in:
over 8 seeds the fold models' cross-validated errors ranged over 77-82 of 548 words.
The mean of the weights of trainings from the same base ("model soup") scored at or
below its members' mean error, 77-79 over 4 pairs (README "Two trainings, averaged").
The members run at once, in threads of this process, each on its share of the torch
threads: two 1-thread members take about as long as one of them alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from retrain.finetune.availability import prepare_process, require_finetune
from retrain.finetune.errors import TrainingCancelled

require_finetune()
prepare_process()

import torch  # noqa: E402

T = TypeVar("T")


def run_members(tasks: Sequence[Callable[[], T]], abort: threading.Event) -> list[T]:
    """Each task's result, the tasks run at once (one alone runs in the calling thread).

    When a task raises, ``abort`` is set so that the others stop at their next check
    (they raise ``TrainingCancelled``); then the first error that is not a cancel is
    raised, or ``TrainingCancelled``."""
    if len(tasks) == 1:
        return [tasks[0]()]

    def guarded(task: Callable[[], T]) -> T:
        try:
            return task()
        except BaseException:
            abort.set()
            raise

    with ThreadPoolExecutor(max_workers=len(tasks), thread_name_prefix="member") as pool:
        futures = [pool.submit(guarded, task) for task in tasks]
        errors = [f.exception() for f in futures]
    failures = [e for e in errors if e is not None]
    for error in failures:
        if not isinstance(error, TrainingCancelled):
            raise error
    if failures:
        raise failures[0]
    return [f.result() for f in futures]


@torch.no_grad()
def load_mean(loaded: Any, states: Sequence[dict[str, torch.Tensor]]) -> None:
    """Set ``loaded``'s decoder parameters named in ``states`` to their mean."""
    parameters = dict(loaded.model.model.decoder.named_parameters())
    for name in states[0]:
        parameters[name].copy_(torch.stack([s[name] for s in states]).mean(dim=0))


def mean_epoch_losses(per_member: Sequence[Sequence[float]]) -> list[float]:
    """Per epoch, the mean loss of the members that ran it."""
    epochs = max(len(losses) for losses in per_member)
    return [
        sum(losses[e] for losses in per_member if len(losses) > e)
        / sum(1 for losses in per_member if len(losses) > e)
        for e in range(epochs)
    ]
