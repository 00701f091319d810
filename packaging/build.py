#!/usr/bin/env python3
"""Build Tiro's packaged app, from a clean checkout to a distributable.

    python3 packaging/build.py                 the default build (no fine-tuning)
    python3 packaging/build.py --finetune      the variant with torch + transformers
    python3 packaging/build.py --no-budgets    skip the start-up and self-test timings

Steps (each printed with its time):
1. a build venv of its own (``build/venv``, or ``build/venv-finetune``) with
   ``tiro[packaging]`` installed from this checkout as a normal (non-editable) package,
   so the analysis sees the installed code, never the source tree;
2. the base model prepared with ``engine.prepare.prepare_to`` into
   ``build/prepared-models/`` (only the default backend's format is shipped; the
   default build stores the CTranslate2 weights as int8, which serving loads
   bit-identically, the fine-tuning variant keeps float16 to train from);
3. PyInstaller on ``packaging/tiro.spec`` -> ``dist/tiro/`` (onedir), then (Linux)
   ``packaging/slim.py``: Qt's ICU data cut to English, PyAV's video encoders replaced by
   stand-ins that fail cleanly, and symbols stripped;
4. checks of the folder (required Qt plugins and native libraries present, test-only
   and fine-tuning libraries absent);
5. the distributable beside it (Linux: ``dist/tiro-<version>-linux-<arch>.tar.gz``
   with a ``.desktop`` file and an icon; Windows: a ``.zip``; macOS: ``Tiro.app`` zipped);
6. the budgets: folder size, cold start to a visible window, ``tiro self-test`` wall
   time, build time (also written to ``dist/budgets.json``).

Needs only Python 3.11+ (the one that runs this script makes the venv). Works on
Linux, Windows and macOS; see packaging/README.md for each platform's notes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
import venv
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import budgets  # noqa: E402 - packaging/budgets.py
import elf  # noqa: E402 - packaging/elf.py
import slim  # noqa: E402 - packaging/slim.py

TORCH_PIN = "torch==2.13.0"  # pip installs the CPU build (README: "Fine-tuning")
EXE_NAME = "tiro.exe" if os.name == "nt" else "tiro"


def say(message: str) -> None:
    print(f"[build] {message}", flush=True)


def run(*cmd: str | Path, **kwargs) -> None:
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


class Steps:
    """Times each build step (printed, and kept for the budget table)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str):
        steps = self

        class _Step:
            def __enter__(self):
                say(f"{name} ...")
                self.started = time.perf_counter()

            def __exit__(self, *exc):
                elapsed = time.perf_counter() - self.started
                steps.seconds[name] = elapsed
                if exc[0] is None:
                    say(f"{name}: {elapsed:.1f} s")

        return _Step()


# ----------------------------------------------------------------------------- venv


def venv_python(venv_dir: Path) -> Path:
    return venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def venv_script(venv_dir: Path, name: str) -> Path:
    return (
        venv_dir
        / ("Scripts" if os.name == "nt" else "bin")
        / (f"{name}.exe" if os.name == "nt" else name)
    )


def build_venv(venv_dir: Path, finetune: bool) -> Path:
    """A venv with tiro[packaging] (and the fine-tuning extra if asked) installed."""
    python = venv_python(venv_dir)
    if not python.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    pip = (python, "-m", "pip", "install", "--disable-pip-version-check", "-q")
    extras = "packaging,finetune" if finetune else "packaging"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(f"{extras}|{sys.version}".encode())
    stamp = venv_dir / ".tiro-build-stamp"
    if not stamp.exists() or stamp.read_text() != digest.hexdigest():
        if finetune:
            run(*pip, TORCH_PIN)  # before transformers, so pip keeps the CPU build
        run(*pip, f"{ROOT}[{extras}]")
        stamp.write_text(digest.hexdigest())
    # Always reinstall Tiro itself from the checkout (a normal install, not editable).
    shutil.rmtree(ROOT / "build" / "lib", ignore_errors=True)  # setuptools' stale copies
    run(*pip, "--no-deps", "--force-reinstall", str(ROOT))
    return python


# ----------------------------------------------------------------------------- model


# The CTranslate2 files (the source of every format) and the default backend's format.
PREPARE_SNIPPET = """
import json, sys
from engine.prepare import format_for_backend, prepare_to
from engine.transcriber import DEFAULTS
formats = {"ct2", format_for_backend(DEFAULTS.backend, DEFAULTS.ggml_variant)}
bundle = prepare_to(sys.argv[1], formats=formats, ct2_storage=sys.argv[2])
print(json.dumps({"version": bundle.version, "backend": DEFAULTS.backend,
                  "formats": sorted(formats), "ct2_storage": sys.argv[2],
                  "files": sorted(bundle.files)}))
"""


def model_storage(finetune: bool) -> str:
    """int8 for the default build (served bit-identically, 36 MB smaller); float16 where
    fine-tuning trains from the weights."""
    return "float16" if finetune else "int8"


def prepare_model(python: Path, target: Path, workdir: Path, storage: str) -> dict:
    """The base model for the default backend, prepared by the installed engine."""
    out = subprocess.run(
        [str(python), "-I", "-c", PREPARE_SNIPPET, str(target), storage],
        check=True,
        capture_output=True,
        text=True,
        cwd=workdir,  # not the checkout: the installed engine does the work
        env=clean_env({"TIRO_HOME": str(workdir / "tiro-home")}),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT", "TEMP", "TMP", "USERPROFILE")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(extra)
    return env


# ----------------------------------------------------------------------------- freeze


def freeze(python: Path, prepared: Path, dist: Path, work: Path, finetune: bool) -> Path:
    args = [
        python,
        "-I",
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--clean",
        "--log-level",
        "WARN",
        "--distpath",
        dist,
        "--workpath",
        work,
        HERE / "tiro.spec",
        "--",
        "--prepared",
        prepared,
    ]
    if finetune:
        args.append("--finetune")
    run(*args, cwd=work.parent, env=clean_env({}))
    return dist / "tiro"


def tiro_version(python: Path) -> str:
    out = subprocess.run(
        [str(python), "-I", "-c", "import importlib.metadata as m; print(m.version('tiro'))"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def strip_binaries(folder: Path) -> int:
    """Strip symbols from the folder's ELF files (Linux); returns the bytes saved.

    PyInstaller's own ``strip`` option cannot skip files, and stripping some libraries
    that auditwheel patched (numpy's OpenBLAS and gfortran) breaks them: their LOAD
    segments end up misaligned ("ELF load command address/offset not page-aligned").
    So each file is stripped here and checked; one that no longer loads is put back
    as it was. Extension modules lose the most (ctranslate2's ``_ext``: 68 -> 1.3 MB).
    The executable is never stripped: it carries its archive appended.
    """
    strip = shutil.which("strip")
    if strip is None or shutil.which("readelf") is None or not sys.platform.startswith("linux"):
        say("strip: strip/readelf not available here, binaries left as they are")
        return 0
    saved = 0
    restored = []
    for path in elf.elf_files(folder):
        if path.parent == folder:
            continue
        before = path.stat().st_size
        backup = path.with_name(path.name + ".unstripped")
        shutil.copy2(path, backup)
        done = subprocess.run([strip, "--strip-unneeded", str(path)], capture_output=True)
        if done.returncode != 0 or not elf.load_segments_aligned(path):
            backup.replace(path)
            restored.append(path.name)
            continue
        backup.unlink()
        saved += before - path.stat().st_size
    if restored:
        say(f"strip: left unstripped (stripping would break them): {', '.join(restored)}")
    return saved


# ----------------------------------------------------------------------------- archive


def archive(folder: Path, version: str, finetune: bool) -> Path:
    """The distributable, beside the folder."""
    dist = folder.parent
    systems = {"linux": "linux", "win32": "windows", "darwin": "macos"}
    system = systems.get(sys.platform, sys.platform)
    name = f"tiro-{version}{'-finetune' if finetune else ''}-{system}-{platform.machine().lower()}"
    if sys.platform.startswith("linux"):
        target = dist / f"{name}.tar.gz"
        desktop = HERE / "linux"
        icons = HERE / "icons"
        with tarfile.open(target, "w:gz", compresslevel=6) as tar:
            tar.add(folder, arcname="tiro")
            tar.add(desktop / "tiro.desktop", arcname="tiro/share/tiro.desktop")
            tar.add(desktop / "install.sh", arcname="tiro/install.sh")
            tar.add(icons / "tiro.svg", arcname="tiro/share/tiro.svg")
            tar.add(icons / "tiro-256.png", arcname="tiro/share/tiro.png")
        return target
    if sys.platform == "darwin" and (dist / "Tiro.app").is_dir():
        folder = dist / "Tiro.app"
    target = dist / f"{name}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, Path(folder.name) / path.relative_to(folder))
    return target


# ----------------------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finetune", action="store_true", help="include torch + transformers")
    parser.add_argument("--dist", type=Path, default=None, help="output folder (default dist/)")
    parser.add_argument("--no-budgets", action="store_true", help="skip timing the build")
    parser.add_argument("--no-archive", action="store_true", help="skip the distributable")
    parser.add_argument(
        "--strict-budgets", action="store_true", help="fail when a budget is exceeded"
    )
    args = parser.parse_args(argv)

    variant = "finetune" if args.finetune else "default"
    build_dir = ROOT / "build"
    work = build_dir / f"pyinstaller-{variant}"
    dist = (args.dist or ROOT / ("dist" if variant == "default" else f"dist-{variant}")).resolve()
    started = time.perf_counter()
    step = Steps()
    with step("build venv"):
        venv_dir = build_dir / ("venv" if variant == "default" else f"venv-{variant}")
        python = build_venv(venv_dir, args.finetune)
    with step("prepare the model"):
        work.mkdir(parents=True, exist_ok=True)
        prepared = build_dir / "prepared-models"
        model = prepare_model(python, prepared, work, model_storage(args.finetune))
        say(
            f"model {model['version']} for the default backend {model['backend']} "
            f"(CTranslate2 weights stored as {model['ct2_storage']}): "
            f"{', '.join(model['files'])}"
        )
    with step("PyInstaller"):
        folder = freeze(python, prepared, dist, work, args.finetune)
    with step("slim"):
        slimmed = slim.slim(folder)
        for message in slimmed.messages:
            say(message)
    with step("strip"):
        say(f"strip: {strip_binaries(folder) / 1e6:.0f} MB saved")
    with step("check the folder"):
        problems = budgets.check_folder(folder, finetune=args.finetune)
        for problem in problems:
            say(f"PROBLEM: {problem}")
        if problems:
            return 1
    target = None
    if not args.no_archive:
        with step("distributable"):
            target = archive(folder, tiro_version(python), args.finetune)
            say(f"distributable: {target}")
    build_seconds = time.perf_counter() - started
    report = budgets.measure(
        folder,
        archive=target,
        build_seconds=build_seconds,
        step_seconds=step.seconds,
        timings=not args.no_budgets,
    )
    print(budgets.render(report), flush=True)
    (dist / f"budgets-{variant}.json").write_text(json.dumps(report, indent=2) + "\n")
    if report["failures"]:
        return 1
    return 1 if args.strict_budgets and report["over_budget"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
