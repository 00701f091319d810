"""A backend pair for guarded serving: fine-tuned weights checked against the factory's.

``GuardedBackend`` decodes every window twice, with the factory model and with the
fine-tuned one (same settings), and yields ``engine.guard.overrule`` of the two: the
fine-tuned text only where it says one of the bundle's guard terms. With CTranslate2 the
two decodes of a window share its encoder output (every bundle has the factory encoder).

Both passes of a window finish before its first segment is yielded; progress runs over
the two passes (the factory's is the first half).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence

import numpy as np

from engine.backends.base import Backend, DecodeSettings, ProgressFn, check_cancel
from engine.bundle import ModelBundle
from engine.guard import overrule
from engine.types import Segment


class GuardedBackend:
    """Two loaded backends of one library: ``tuned`` (the bundle's weights) and ``factory``."""

    def __init__(self, tuned: Backend, factory: Backend, terms: Sequence[str]) -> None:
        self.tuned = tuned
        self.factory = factory
        self.terms = tuple(terms)
        self.name = tuned.name

    @property
    def weights_sha256(self) -> str:
        return self.tuned.weights_sha256

    def load(self, bundle: ModelBundle, threads: int) -> None:
        raise TypeError("a GuardedBackend is built from two loaded backends")

    def close(self) -> None:
        """The two backends belong to the engine's cache of loaded models."""

    def transcribe_window(
        self,
        pcm: np.ndarray,
        settings: DecodeSettings,
        *,
        cancel: threading.Event | None = None,
        progress: ProgressFn | None = None,
    ) -> Iterator[Segment]:
        check_cancel(cancel)
        share = getattr(self.tuned, "shared_encoder", None)
        with share() if share is not None else contextlib.nullcontext():
            factory = list(
                self.factory.transcribe_window(
                    pcm, settings, cancel=cancel, progress=_part(progress, 0.0)
                )
            )
            tuned = list(
                self.tuned.transcribe_window(
                    pcm, settings, cancel=cancel, progress=_part(progress, 0.5)
                )
            )
        check_cancel(cancel)
        yield from overrule(factory, tuned, self.terms)
        if progress is not None:
            progress(1.0)


def _part(progress: ProgressFn | None, offset: float) -> ProgressFn | None:
    if progress is None:
        return None
    return lambda fraction: progress(offset + 0.5 * min(1.0, max(0.0, fraction)))
