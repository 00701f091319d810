"""``tiro self-test`` passes on a working install and fails when the transcript is wrong."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

import app.cli.self_test as self_test
import engine.corpus

TIRO = Path(sys.executable).parent / "tiro"


def test_self_test_passes_and_says_what_it_checked(tiro_home: Path) -> None:
    result = subprocess.run([str(TIRO), "self-test"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "jfk_inaugural_44k_stereo.flac" in out
    assert "expected: and so my fellow americans ask not" in out
    assert out.count(": OK") == 2  # both backends
    assert out.rstrip().endswith("self-test passed")


def test_self_test_fails_when_the_transcript_does_not_match(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = engine.corpus.reference_set()

    def wrong_reference():
        return [
            dataclasses.replace(i, text="The quick brown fox jumps over the lazy dog.")
            if i.name == engine.corpus.SELF_TEST_CLIP
            else i
            for i in real
        ]

    monkeypatch.setattr(engine.corpus, "reference_set", wrong_reference)
    status = self_test.run(argparse.Namespace(backend=["ctranslate2"]))
    out = capsys.readouterr().out
    assert status == 1
    assert "FAILED" in out and out.rstrip().endswith("self-test FAILED")
