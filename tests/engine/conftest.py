"""Session-wide engine runs: each backend transcribes the general corpus once per test run."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.corpus import CorpusItem, read_manifest
from engine.types import Segment, TranscribeOptions, TranscriptionInfo

BACKENDS = ("ctranslate2", "whispercpp")
# The same greedy decoding for both backends: beam 1, no temperature fallback.
GREEDY = {"beam_size": 1, "temperatures": (0.0,)}


@dataclass(frozen=True)
class ClipRun:
    item: CorpusItem
    segments: tuple[Segment, ...]
    info: TranscriptionInfo

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments)


@pytest.fixture(scope="session")
def engine_session_env(
    prepared_models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Environment for session-scoped engine work: its own TIRO_HOME, the prepared model."""
    return {
        "TIRO_HOME": str(tmp_path_factory.mktemp("engine_session_home")),
        "TIRO_PREPARED_MODELS": str(prepared_models_dir),
    }


@contextlib.contextmanager
def engine_environment(env: dict[str, str]) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield


def run_corpus(corpus: Path, backend: str, env: dict[str, str], **options) -> list[ClipRun]:
    from engine import transcribe

    runs = []
    with engine_environment(env):
        for item in read_manifest(corpus):
            segments, info = transcribe(item.path, TranscribeOptions(backend=backend, **options))
            runs.append(ClipRun(item, tuple(segments), info))
    return runs


@pytest.fixture(scope="session")
def greedy_general_runs(general_corpus: Path, engine_session_env) -> dict[str, list[ClipRun]]:
    """Every general clip, transcribed once per session by each backend, greedy."""
    return {b: run_corpus(general_corpus, b, engine_session_env, **GREEDY) for b in BACKENDS}
