"""Transcribe functions for testing the worker-process boundary itself (not the model):
one that dies half-way, as a crashing native library would."""

from __future__ import annotations

import os

from engine.types import Segment, TranscribeOptions, TranscriptionInfo


def dies_after_one_segment(source, options=None, *, bundle=None, progress=None, cancel=None):
    def segments():
        yield Segment(0.0, 1.0, "first words")
        os._exit(3)  # the process vanishes, like a segfault in a native backend

    info = TranscriptionInfo(1.0, "test", "test", "", TranscribeOptions())
    return segments(), info
