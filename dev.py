#!/usr/bin/env python3
"""Set up Tiro's development environment and run the app or the tests.

    python3 dev.py app [ARGS...]    set up, then open the app (no display: transcribe a sample)
    python3 dev.py test [ARGS...]   set up, then run the whole test suite (ARGS go to pytest)
    python3 dev.py setup            only set up

A plain venv + pip bootstrap, not uv: pip installs PyTorch's CPU build from the local
wheel on these machines, where uv would download a multi-GB CUDA build.
It needs nothing but Python 3.11+. The environment lives in .venv/ and is refreshed
whenever pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
TORCH_PIN = "torch==2.13.0"
SAMPLE = ROOT / "engine" / "data" / "reference" / "jfk_inaugural_44k_stereo.flac"


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def run(*cmd: str | Path, **kwargs) -> None:
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def stamp_for(extras: str) -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(extras.encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def setup(extras: str, with_torch: bool) -> None:
    if not PYTHON.exists():
        say(f"creating {VENV.relative_to(ROOT)}")
        venv.EnvBuilder(with_pip=True, upgrade_deps=False).create(VENV)
    stamp_file = VENV / ".tiro-stamp"
    want = stamp_for(extras + ("+torch" if with_torch else ""))
    if stamp_file.exists() and stamp_file.read_text() == want:
        return
    pip = (PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q")
    run(*pip, "--upgrade", "pip")
    if with_torch:
        # The CPU build. On machines without a local wheel, see README "Fine-tuning".
        say(f"installing {TORCH_PIN} (CPU)")
        run(*pip, TORCH_PIN)
    say(f"installing tiro[{extras}]")
    run(*pip, "-e", f".[{extras}]", cwd=ROOT)
    stamp_file.write_text(want)


def has_display() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("app", [])
    tiro = BIN / ("tiro.exe" if os.name == "nt" else "tiro")
    if command == "setup":
        setup("dev,finetune", with_torch=True)
        return 0
    if command == "app":
        setup("", with_torch=False)
        if has_display():
            return subprocess.call([str(tiro), *rest])
        say("no display found: transcribing a bundled sample instead of opening the window")
        return subprocess.call([str(tiro), "transcribe", str(SAMPLE), *rest])
    if command == "test":
        setup("dev,finetune", with_torch=True)
        env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
        return subprocess.call([str(PYTHON), "-m", "pytest", *rest], cwd=ROOT, env=env)
    sys.stderr.write(__doc__ or "")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
