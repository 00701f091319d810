"""The real ``tiro`` command in a subprocess: outputs, every bad input, no network."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import srt
import webvtt
from media_factory import write_video

from engine.scoring import normalize

TIRO = Path(sys.executable).parent / "tiro"


@pytest.fixture
def cli_env(tiro_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["TIRO_HOME"] = str(tiro_home)
    env.pop("HF_HUB_OFFLINE", None)  # the engine must go offline by itself
    return env


def tiro(
    *args: str | Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(TIRO), *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout
    )


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tiro: error: ")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    return lines[0]


# ----------------------------------------------------------------------------- outputs


def test_txt_goes_to_stdout_and_nothing_to_a_non_terminal_stderr(general_corpus, cli_env) -> None:
    result = tiro("transcribe", general_corpus / "jfk_inaugural_44k_stereo.flac", env=cli_env)
    assert result.returncode == 0, result.stderr
    assert normalize(result.stdout) == normalize(
        "And so my fellow Americans, ask not what your country can do for you, "
        "ask what you can do for your country."
    )
    assert result.stderr == ""  # no progress bar when stderr is not a terminal


def test_srt_vtt_and_json_files(general_corpus, cli_env, tmp_path: Path) -> None:
    clip = general_corpus / "librispeech_1272-128104-0000.wav"
    for fmt in ("srt", "vtt", "json"):
        out = tmp_path / f"out.{fmt}"
        result = tiro(
            "transcribe", clip, "--format", fmt, "-o", out, "--backend", "ctranslate2", env=cli_env
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""
        text = out.read_text(encoding="utf-8")
        if fmt == "srt":
            words = " ".join(s.content for s in srt.parse(text))
        elif fmt == "vtt":
            words = " ".join(c.text for c in webvtt.from_string(text).captions)
        else:
            data = json.loads(text)
            words = " ".join(s["text"] for s in data["segments"])
            assert data["info"]["backend"] == "ctranslate2"
            assert all(w["probability"] is not None for s in data["segments"] for w in s["words"])
        assert "apostle of the middle classes" in normalize(words)


def test_several_files_into_a_folder_with_the_whispercpp_backend(
    general_corpus, cli_env, tmp_path: Path
) -> None:
    clips = [general_corpus / "harvard_birch_canoe.wav", general_corpus / "timit_ldc93s1_8k.ogg"]
    result = tiro(
        "transcribe",
        *clips,
        "-o",
        tmp_path,
        "--backend",
        "whispercpp",
        "--threads",
        "2",
        "--quiet",
        env=cli_env,
    )
    assert result.returncode == 0, result.stderr
    assert "birch canoe" in normalize((tmp_path / "harvard_birch_canoe.txt").read_text())
    assert "greasy wash" in normalize((tmp_path / "timit_ldc93s1_8k.txt").read_text())


def test_prompt_is_accepted(general_corpus, cli_env) -> None:
    result = tiro(
        "transcribe",
        general_corpus / "cheetah_platforms.wav",
        "--prompt",
        "Railway announcements.",
        env=cli_env,
    )
    assert result.returncode == 0 and "platforms" in result.stdout.lower()


def test_interrupt_leaves_no_output_file(general_corpus, cli_env, tmp_path: Path) -> None:
    clips = [general_corpus / "jfk_inaugural_44k_stereo.flac"] * 1
    long_input = tmp_path / "long.flac"
    import numpy as np
    from media_factory import write_audio

    from engine.audio import decode

    # about 22 minutes, so the interrupt at 8 s finds the job running (a 7-minute file was
    # once transcribed completely by then on a quiet machine, and the test failed)
    write_audio(np.tile(decode(clips[0]), 120), long_input, codec="flac")
    out = tmp_path / "out.json"
    proc = subprocess.Popen(
        [str(TIRO), "transcribe", str(long_input), "--format", "json", "-o", str(out)],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(8)  # loading and a few windows in
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert stderr.strip().startswith("tiro: error: interrupted")
    assert list(tmp_path.iterdir()) == [long_input]  # no output, no temporary file


def test_a_ctrl_c_whose_keyboard_interrupt_is_lost_still_stops_the_job(
    general_corpus, tiro_home
) -> None:
    """Python loses a KeyboardInterrupt raised while a finalizer runs; the cancel event the
    same Ctrl-C sets still stops the job (in this process: a real SIGINT, the real model)."""
    from app.cli.interrupt import cancelled_by_ctrl_c
    from engine import transcribe

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), cancelled_by_ctrl_c() as cancel:
        segments, _ = transcribe(general_corpus / "jfk_inaugural_44k_stereo.flac", cancel=cancel)
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except KeyboardInterrupt:
            pass  # lost, as in a finalizer
        assert cancel.is_set()
        list(segments)  # raises: the job is cancelled
    assert signal.getsignal(signal.SIGINT) is before


# ----------------------------------------------------------------------------- bad input


@pytest.fixture
def bad_inputs(tmp_path: Path, general_corpus: Path) -> dict[str, Path]:
    flac = (general_corpus / "jfk_inaugural_44k_stereo.flac").read_bytes()
    made = {
        "missing": tmp_path / "missing.mp3",
        "directory": tmp_path / "a-folder",
        "zero_bytes": tmp_path / "empty.wav",
        "truncated": tmp_path / "truncated.flac",
        "corrupt": tmp_path / "corrupt.flac",
        "text_named_wav": tmp_path / "notes.wav",
    }
    made["directory"].mkdir()
    made["zero_bytes"].write_bytes(b"")
    made["truncated"].write_bytes(flac[: len(flac) // 2])
    damaged = bytearray(flac)
    damaged[len(flac) // 4 : len(flac) * 3 // 4] = os.urandom(len(flac) // 2)
    made["corrupt"].write_bytes(bytes(damaged))
    made["text_named_wav"].write_text("minutes of the meeting\n")
    made["video_without_audio"] = write_video(
        None, tmp_path / "silent.mp4", video_codec="libx264", audio_codec=None
    )
    return made


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("missing", "does not exist"),
        ("directory", "is a folder"),
        ("zero_bytes", "is empty"),
        ("truncated", "truncated"),
        ("corrupt", "corrupt"),
        ("text_named_wav", "text file"),
        ("video_without_audio", "without an audio track"),
    ],
)
def test_bad_input_exits_2_with_one_line(bad_inputs, cli_env, kind: str, words: str) -> None:
    line = _one_error_line(tiro("transcribe", bad_inputs[kind], env=cli_env))
    assert words in line


def test_a_bad_file_among_good_ones_fails_before_any_work(
    bad_inputs, general_corpus, cli_env, tmp_path: Path
) -> None:
    out = tmp_path / "outdir"
    out.mkdir()
    good = general_corpus / "harvard_birch_canoe.wav"
    line = _one_error_line(
        tiro("transcribe", good, bad_inputs["zero_bytes"], "-o", out, env=cli_env)
    )
    assert "is empty" in line
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--format", "docx"], "invalid choice: 'docx'"),
        (["--backend", "vosk"], "invalid choice: 'vosk'"),
        (["--threads", "0"], "must be at least 1"),
        (["-o", "/proc/tiro-no-such-place/out.txt"], "does not exist"),
        (["-o", "/proc/version"], "cannot write"),
    ],
)
def test_bad_options_exit_2_with_one_line(general_corpus, cli_env, args, words: str) -> None:
    line = _one_error_line(
        tiro("transcribe", general_corpus / "harvard_birch_canoe.wav", *args, env=cli_env)
    )
    assert words in line


def test_several_files_need_an_output_folder(general_corpus, cli_env, tmp_path: Path) -> None:
    clip = general_corpus / "harvard_birch_canoe.wav"
    other = general_corpus / "cheetah_platforms.wav"
    line = _one_error_line(tiro("transcribe", clip, other, "-o", tmp_path / "x.txt", env=cli_env))
    assert "must be an existing folder" in line


# ----------------------------------------------------------------------------- no network


SITECUSTOMIZE = """
import socket

def _refuse(*args, **kwargs):
    raise OSError("network access attempted in an offline test")

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.getaddrinfo = _refuse
socket.create_connection = _refuse
"""


def test_transcription_works_with_sockets_disabled(general_corpus, cli_env, tmp_path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(cli_env, PYTHONPATH=str(site))
    probe = subprocess.run(
        [sys.executable, "-c", "import socket; socket.create_connection(('127.0.0.1', 9))"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert "network access attempted" in probe.stderr  # the guard is active
    result = tiro("transcribe", general_corpus / "harvard_frosty_air.wav", env=env)
    assert result.returncode == 0, result.stderr
    assert "frosty air" in normalize(result.stdout)
    result = tiro("self-test", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def _unshare_works() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    return subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="no permission for a network namespace here")
def test_transcription_works_without_any_network_interface(general_corpus, cli_env) -> None:
    result = subprocess.run(
        ["unshare", "-rn", str(TIRO), "transcribe", str(general_corpus / "cheetah_platforms.wav")],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "platforms" in normalize(result.stdout)
