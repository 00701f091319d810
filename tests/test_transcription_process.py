"""The worker process boundary: a transcription whose process dies is one sentence, and the
next job gets a fresh process. (The crash is injected with a target that exits; the model
itself is exercised through this runner in tests/gui/test_app_transcription.py.)"""

from __future__ import annotations

import pytest

from app.transcription.process import ProcessTranscriber, WorkerCrashed


def test_a_dying_worker_is_reported_and_replaced() -> None:
    runner = ProcessTranscriber("process_targets:dies_after_one_segment")
    try:
        segments, info = runner.transcribe("ignored.wav")
        assert info.backend == "test"
        first = next(segments)
        assert first.text == "first words"
        with pytest.raises(WorkerCrashed, match="stopped unexpectedly"):
            next(segments)
        assert not runner.running
        segments, _ = runner.transcribe("ignored.wav")  # a new process takes over
        assert next(segments).text == "first words"
    finally:
        runner.close()
