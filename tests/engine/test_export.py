"""Exports parse back with established parsers; writes are atomic; bad places are refused."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path

import pytest
import srt
import webvtt

from engine.errors import ExportError
from engine.export import FORMATS, check_writable, export, render
from engine.types import Segment, TranscribeOptions, TranscriptionInfo, Word


def _segments() -> list[Segment]:
    return [
        Segment(
            0.0,
            2.5,
            "And so, my fellow Americans",
            (
                Word("And", 0.0, 0.4, 0.9),
                Word("so,", 0.4, 0.8, 0.95),
                Word("my", 0.8, 1.0, 0.7),
                Word("fellow", 1.0, 1.6, 1.0),
                Word("Americans", 1.6, 2.5, 0.88),
            ),
            avg_logprob=-0.3,
            no_speech_prob=math.nan,  # unknown
            compression_ratio=1.1,
        ),
        Segment(3661.25, 3663.0, "<b>R&D</b> --> next", (), -0.5, 0.02, 1.3),
    ]


def _info() -> TranscriptionInfo:
    return TranscriptionInfo(
        duration=3663.0,
        backend="ctranslate2",
        model_version="base-test",
        model_sha256="ab" * 32,
        options=TranscribeOptions(backend="ctranslate2", beam_size=1, temperatures=(0.0,)),
        notices=("a notice",),
    )


def test_srt_parses_back_with_the_srt_library() -> None:
    subs = list(srt.parse(render("srt", _segments())))
    assert [s.index for s in subs] == [1, 2]
    assert subs[0].start == timedelta(0) and subs[0].end == timedelta(seconds=2.5)
    assert subs[1].start == timedelta(hours=1, minutes=1, seconds=1.25)
    assert subs[0].content == "And so, my fellow Americans"
    assert "-->" not in subs[1].content


def test_vtt_parses_back_with_webvtt_py() -> None:
    captions = webvtt.from_string(render("vtt", _segments())).captions
    assert len(captions) == 2
    assert captions[0].start == "00:00:00.000" and captions[0].end == "00:00:02.500"
    assert captions[1].start == "01:01:01.250"
    assert captions[0].text == "And so, my fellow Americans"
    assert "&lt;b&gt;R&amp;D&lt;/b&gt;" in captions[1].raw_text


def test_json_has_words_confidences_and_info_and_no_nan() -> None:
    text = render("json", _segments(), _info())
    data = json.loads(text)  # strict JSON: NaN would not parse with allow_nan=False below
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert data["format"] == "tiro-transcript" and data["version"] == 1
    first = data["segments"][0]
    assert first["no_speech_prob"] is None
    assert first["words"][1] == {"text": "so,", "start": 0.4, "end": 0.8, "probability": 0.95}
    assert data["info"]["model_version"] == "base-test"
    assert data["info"]["options"]["temperatures"] == [0.0]
    assert data["info"]["notices"] == ["a notice"]


def test_txt_is_one_line_per_segment() -> None:
    assert render("txt", _segments()) == "And so, my fellow Americans\n<b>R&D</b> --> next\n"


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_writes_atomically_and_replaces(tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"out.{fmt}"
    target.write_text("old")
    export(fmt, _segments(), _info(), target)
    assert target.read_text(encoding="utf-8") == render(fmt, _segments(), _info())
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_failure_while_rendering_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")

    def broken():
        yield _segments()[0]
        raise RuntimeError("decoder died")

    with pytest.raises(RuntimeError):
        export("txt", broken(), None, target)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda tmp: tmp / "missing-folder" / "out.txt", "does not exist"),
        (lambda tmp: tmp, "is a folder"),
        (lambda tmp: Path("/proc/tiro-cannot-write-here.txt"), "cannot write"),
    ],
)
def test_unwritable_places_raise_export_error(tmp_path: Path, make, words: str) -> None:
    with pytest.raises(ExportError, match=words):
        check_writable(make(tmp_path))


def test_unknown_format_is_an_export_error() -> None:
    with pytest.raises(ExportError, match="unknown export format"):
        render("docx", _segments())
