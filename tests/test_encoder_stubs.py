"""The Linux build replaces PyAV's video-encoder libraries with stand-ins
(packaging/encoder_stubs.py). These tests build the stand-ins against the installed PyAV,
in a copy of it, and check that decoding is untouched and that the encoders fail cleanly.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packaging"))

import encoder_stubs  # noqa: E402
from check_bundle import video_with_sound  # noqa: E402 - the same videos the bundle check makes

from engine.corpus import read_manifest, reference_set  # noqa: E402

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or bool(encoder_stubs.tools_missing()),
    reason="the stand-ins are built on Linux with gcc and binutils (CI installs them)",
)

PROBE = textwrap.dedent(
    """
    import json, sys
    import av
    assert av.__file__.startswith(sys.argv[1]), av.__file__
    result = {"codecs": len(av.codecs_available), "samples": {}, "encoders": {}}
    for path in json.loads(sys.argv[2]):
        with av.open(path) as container:
            result["samples"][path] = sum(f.samples for f in container.decode(audio=0))
    result["decoders"] = [av.codec.Codec(n, "r").name for n in ("vp8", "vp9", "h264", "hevc")]
    for name in json.loads(sys.argv[3]):
        with av.open(sys.argv[4], "w", format="matroska") as out:
            try:
                stream = out.add_stream(name, rate=25)
                stream.width = stream.height = 64
                stream.pix_fmt = "yuv420p"
                stream.open()
                result["encoders"][name] = "opened"
            except av.FFmpegError as error:
                result["encoders"][name] = type(error).__name__
    print(json.dumps(result))
    """
)


@pytest.fixture(scope="module")
def stand_in_av(tmp_path_factory) -> Path:
    """A copy of the installed PyAV with its encoder libraries replaced."""
    site = Path(av.__file__).resolve().parents[1]
    target = tmp_path_factory.mktemp("av-slim")
    shutil.copytree(site / "av", target / "av")
    shutil.copytree(site / "av.libs", target / "av.libs")
    saved = encoder_stubs.replace_encoders(target / "av.libs")
    assert saved > 20e6, saved
    return target


def _probe(site: Path, files: list[str], encoders: list[str], tmp_path: Path):
    return subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            str(site),
            json.dumps(files),
            json.dumps(encoders),
            str(tmp_path / "o.mkv"),
        ],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )


def test_the_stand_ins_decode_every_corpus_file_and_video_sound_tracks_as_before(
    stand_in_av: Path, corpus_root: Path, tmp_path: Path
) -> None:
    files = [
        str(e.path) for split in ("general", "user-sim") for e in read_manifest(corpus_root / split)
    ]
    sound = reference_set()[0].path
    files += [
        str(video_with_sound(sound, tmp_path / "h264.mp4", "libx264", "aac")),
        str(video_with_sound(sound, tmp_path / "vp9.webm", "libvpx-vp9", "libopus")),
    ]
    expected = {}
    for path in files:
        with av.open(path) as container:
            expected[path] = sum(f.samples for f in container.decode(audio=0))

    done = _probe(stand_in_av, files, [], tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["samples"] == expected
    assert result["codecs"] == len(av.codecs_available)
    # FFmpeg's own decoders are the ones picked, never the replaced libvpx.
    assert result["decoders"] == ["vp8", "vp9", "h264", "hevc"]


def test_opening_a_replaced_encoder_fails_with_ffmpegs_error(
    stand_in_av: Path, tmp_path: Path
) -> None:
    encoders = ["libx264", "libvpx", "libvpx-vp9", "libsvtav1"]
    real = _probe(Path(av.__file__).resolve().parents[1], [], encoders, tmp_path)
    assert json.loads(real.stdout)["encoders"] == dict.fromkeys(encoders, "opened")

    done = _probe(stand_in_av, [], encoders, tmp_path)
    assert done.returncode == 0, done.stderr
    failures = json.loads(done.stdout)["encoders"]
    assert set(failures) == set(encoders)
    assert "opened" not in failures.values()


def test_opening_x265_stops_with_one_line_naming_the_library(
    stand_in_av: Path, tmp_path: Path
) -> None:
    done = _probe(stand_in_av, [], ["libx265"], tmp_path)
    assert done.returncode != 0
    assert (
        "libx265" in done.stderr
        and "is not in this build (Tiro never encodes video)" in done.stderr
    )


def test_a_library_binutils_cannot_read_is_an_error_not_an_empty_answer(tmp_path: Path) -> None:
    import elf

    truncated = tmp_path / "libtruncated.so"
    truncated.write_bytes(b"\x7fELF" + bytes(12))  # the magic, then no header
    with pytest.raises(elf.ElfError, match=r"libtruncated\.so"):
        elf.needed(truncated)
    with pytest.raises(elf.ElfError):
        elf.soname(truncated)
