#!/usr/bin/env python3
"""Check a built distributable the way a user would run it (CI runs this after the build).

    python3 packaging/check_bundle.py dist/tiro-<version>-linux-<arch>.tar.gz

1. Unpacks the archive into a fresh temporary folder (outside the checkout).
2. ``tiro self-test`` there, isolated (packaging/isolation.py): another working
   directory, ``env -i`` with a temporary ``HOME`` and ``TIRO_HOME``, no network
   (``unshare -n``), and the checkout and the build's Python hidden behind empty mounts.
3. The upgrade check: each previous build's data folder in ``tests/data/upgrade/``
   (see tests/upgrade_fixture.py) is installed as ``TIRO_HOME`` and the new build runs
   ``tiro import`` on the bundled clip and ``tiro models list``, isolated the same way.
   Then the database must be at this code's schema version, the old rows intact, and
   the new transcript made by the previous build's personal model (not the factory one).
4. Video: the sound tracks of an MP4 (H.264 + AAC) and a WebM (VP9 + Opus) made from the
   bundled clip are transcribed by the frozen ``tiro transcribe``. The build replaced
   PyAV's video encoders with stand-ins (packaging/encoder_stubs.py); decoding must not
   notice.
5. Nothing may have been written into the program's folder (data lives in TIRO_HOME).

Exit status 0 only if everything passed. With ``--require-isolation`` a machine that
cannot cut the network is a failure instead of a weaker, clearly reported run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import isolation  # noqa: E402

FIXTURES = ROOT / "tests" / "data" / "upgrade"
CLIP = "_internal/engine/data/reference/jfk_inaugural_44k_stereo.flac"


def say(message: str) -> None:
    print(f"[check] {message}", flush=True)


def current_schema_version() -> int:
    """The number of migrations this checkout's store knows (read from the source)."""
    sys.path.insert(0, str(ROOT))
    from retrain.store.schema import SCHEMA_VERSION

    return SCHEMA_VERSION


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file in the program's folder with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def install_fixture(fixture: Path, home: Path) -> dict:
    with tarfile.open(fixture) as tar:
        description = json.load(tar.extractfile("fixture.json"))  # type: ignore[arg-type]
        for member in tar.getmembers():
            if member.name.startswith("home/"):
                member.name = member.name.removeprefix("home/")
                tar.extract(member, home, filter="data")
    return description


def check_self_test(exe: Path, require: bool, finetune: bool) -> bool:
    run = isolation.run_isolated(exe, ["self-test"], repo=ROOT, require_isolation=require)
    print(run.stdout + run.stderr, end="")
    ok = run.returncode == 0 and not run.network_used
    expected = "fine-tuning: available" if finetune else "fine-tuning: fine-tuning is not available"
    if expected not in run.stdout:
        say(f"PROBLEM: the self-test does not say {expected!r}")
        ok = False
    say(f"self-test {'passed' if ok else 'FAILED'} in {run.seconds:.1f} s ({run.isolation})")
    return ok


def check_upgrade(exe: Path, fixture: Path, schema_version: int, require: bool) -> bool:
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tiro-upgrade-") as scratch:
        home = Path(scratch) / "tiro-home"
        home.mkdir()
        before = install_fixture(fixture, home)
        say(
            f"{fixture.name}: data of commit {before['commit']} (schema "
            f"v{before['schema_version']}, personal model {before['champion']})"
        )
        for args in (["import", str(exe.parent / CLIP)], ["models", "list"]):
            run = isolation.run_isolated(
                exe, args, repo=ROOT, tiro_home=home, require_isolation=require
            )
            print(run.stdout + run.stderr, end="")
            if run.returncode != 0:
                problems.append(f"`tiro {' '.join(args)}` exited {run.returncode}")
        if before["champion"] not in run.stdout:
            problems.append("`tiro models list` does not show the personal model")
        conn = sqlite3.connect(home / "tiro.sqlite")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            migrated = conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0]
            rows = conn.execute("SELECT id, model_version FROM transcripts ORDER BY id").fetchall()
            old_texts = [
                text
                for (text,) in conn.execute(
                    "SELECT text FROM segments WHERE transcript_id = ? ORDER BY start_sec",
                    (before["transcript_id"],),
                )
            ]
        finally:
            conn.close()
        if migrated != schema_version:
            problems.append(
                f"{migrated} migrations applied, this code has {schema_version} "
                f"(user_version {version})"
            )
        if old_texts != before["segment_texts"]:
            problems.append(f"the old transcript changed: {old_texts}")
        new = [model for tid, model in rows if tid != before["transcript_id"]]
        if new != [before["champion"]]:
            problems.append(f"the new transcript was made by {new}, not {before['champion']}")
    for problem in problems:
        say(f"PROBLEM: {problem}")
    say(f"upgrade from {fixture.name}: {'passed' if not problems else 'FAILED'}")
    return not problems


def video_with_sound(audio: Path, target: Path, video_codec: str, audio_codec: str) -> Path:
    """``audio`` as the sound track of a short video (made with this Python's PyAV)."""
    import av
    import numpy as np

    with av.open(str(audio)) as source, av.open(str(target), "w") as out:
        video = out.add_stream(video_codec, rate=5)
        video.width = video.height = 64
        video.pix_fmt = "yuv420p"
        sound = out.add_stream(audio_codec, rate=48000)
        resampler = av.AudioResampler(format=sound.format.name, layout="stereo", rate=48000)
        for frame in source.decode(audio=0):
            for resampled in resampler.resample(frame):
                out.mux(sound.encode(resampled))
        out.mux(sound.encode(None))
        for i in range(10):
            image = np.full((64, 64, 3), i * 20, np.uint8)
            out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(video.encode(None))
    return target


def check_video(exe: Path, media: Path, require: bool) -> bool:
    expected = "ask not what your country can do for you"
    ok = True
    for name, video_codec, audio_codec in (
        ("jfk.mp4", "libx264", "aac"),
        ("jfk.webm", "libvpx-vp9", "libopus"),
    ):
        path = video_with_sound(exe.parent / CLIP, media / name, video_codec, audio_codec)
        run = isolation.run_isolated(
            exe, ["transcribe", str(path)], repo=ROOT, require_isolation=require
        )
        passed = run.returncode == 0 and expected in " ".join(
            run.stdout.lower().replace(",", "").split()
        )
        say(
            f"video {name} ({video_codec} + {audio_codec}): {'transcribed' if passed else 'FAILED'}"
        )
        if not passed:
            print(run.stdout + run.stderr, end="")
            ok = False
    return ok


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", type=Path, help="the .tar.gz the build made")
    parser.add_argument("--require-isolation", action="store_true")
    parser.add_argument("--finetune", action="store_true", help="the variant with fine-tuning")
    args = parser.parse_args(argv)
    say(f"isolation: {isolation.describe()}")
    schema_version = current_schema_version()
    fixtures = sorted(FIXTURES.glob("home-*.tar.gz"))
    if not fixtures:
        say("PROBLEM: no previous build's data in tests/data/upgrade/")
        return 1
    with tempfile.TemporaryDirectory(prefix="tiro-unpacked-") as scratch:
        with tarfile.open(args.archive) as tar:
            tar.extractall(scratch, filter="tar")
        exe = Path(scratch) / "tiro" / "tiro"
        say(f"unpacked {args.archive.name} into {exe.parent}")
        before = snapshot(exe.parent)
        ok = check_self_test(exe, args.require_isolation, args.finetune)
        for fixture in fixtures:
            ok &= check_upgrade(exe, fixture, schema_version, args.require_isolation)
        media = Path(scratch) / "media"
        media.mkdir()
        ok &= check_video(exe, media, args.require_isolation)
        written = sorted(set(snapshot(exe.parent).items()) - set(before.items()))
        if written:
            say(f"PROBLEM: the program wrote next to itself: {[name for name, _ in written][:5]}")
            ok = False
        else:
            say("nothing was written into the program's folder")
        shutil.rmtree(scratch, ignore_errors=True)
    say("bundle check passed" if ok else "bundle check FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
