"""Run the frozen program the way a user's machine would, with nothing of the build around.

``run_isolated`` runs ``tiro`` from an unpacked copy of the build:

- from a different working directory (a fresh temporary folder);
- with a clean environment: ``env -i`` plus a temporary ``HOME`` and ``TIRO_HOME`` and a
  minimal ``PATH`` (and ``QT_QPA_PLATFORM`` when asked);
- with no network: a new network namespace (``unshare -n`` as root, ``unshare -rn`` for
  other users where unprivileged user namespaces are allowed), which has only a
  loopback interface that is down;
- with the checkout, the build venv and the Python installation the build used hidden
  (an empty tmpfs mounted over each, in a private mount namespace), so an import or a
  file that only works because the source tree or the build's Python is there fails.

Where namespaces are not available (some containers, macOS, Windows) it falls back to
``strace`` when present: the run is traced and any ``connect`` to an internet address
counts as a failure (this proves no network was *used*, not that none was there), and
the checkout is not hidden. ``describe()`` says which isolation a run had.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PATH = "/usr/local/bin:/usr/bin:/bin"
INET_CONNECT = re.compile(r"connect\(\d+, \{sa_family=AF_INET6?,")


@dataclass(frozen=True)
class Isolation:
    prefix: tuple[str, ...]  # e.g. ("unshare", "-mn")
    hides_paths: bool
    strace: bool
    description: str


@dataclass(frozen=True)
class IsolatedRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    isolation: str
    network_used: bool  # only known under strace; False otherwise


def _works(*cmd: str) -> bool:
    try:
        return subprocess.run(list(cmd), capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@lru_cache(maxsize=1)
def isolation() -> Isolation:
    """The strongest isolation this machine allows."""
    if sys.platform.startswith("linux") and shutil.which("unshare"):
        root = os.geteuid() == 0
        flags = "-mn" if root else "-rmn"
        with tempfile.TemporaryDirectory() as target:
            mounts = _works("unshare", flags, "mount", "-t", "tmpfs", "none", target)
        if mounts:
            who = "as root" if root else "in a user namespace"
            return Isolation(
                ("unshare", flags),
                True,
                False,
                f"`unshare {flags}` ({who}): no network, source tree and build Python hidden",
            )
        flags = "-n" if root else "-rn"
        if _works("unshare", flags, "true"):
            return Isolation(
                ("unshare", flags), False, False, f"`unshare {flags}`: no network (paths visible)"
            )
    if shutil.which("strace"):
        return Isolation(
            (), False, True, "strace: any internet connect() fails the run (network present)"
        )
    return Isolation((), False, False, "none available: network present, paths visible")


def hidden_paths(repo: Path) -> list[Path]:
    """What must not be needed at run time: the checkout and the build's Python."""
    paths = [repo.resolve()]
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    paths.append(stdlib)  # the Python the build used (its stdlib and site-packages)
    return [p for p in dict.fromkeys(paths) if p.exists()]


def describe() -> str:
    return isolation().description


def run_isolated(
    executable: Path,
    args: list[str],
    *,
    repo: Path,
    extra_env: dict[str, str] | None = None,
    tiro_home: Path | None = None,
    timeout: float = 600,
    require_isolation: bool = False,
) -> IsolatedRun:
    """Run ``executable args`` isolated (see the module docstring); captures output.

    ``tiro_home``: an existing data folder to use (default: a new, empty one).
    With ``require_isolation`` a machine that offers no network isolation is an error
    rather than a silently weaker run.
    """
    import time

    chosen = isolation()
    if require_isolation and not chosen.prefix and not chosen.strace:
        raise RuntimeError(f"no network isolation available here ({chosen.description})")
    with tempfile.TemporaryDirectory(prefix="tiro-isolated-") as scratch:
        scratch_dir = Path(scratch)
        home, cwd = scratch_dir / "home", scratch_dir / "cwd"
        home.mkdir()
        cwd.mkdir()
        if tiro_home is None:
            tiro_home = scratch_dir / "tiro-home"
            tiro_home.mkdir()
        env = {
            "HOME": str(home),
            "TIRO_HOME": str(tiro_home),
            "PATH": PATH,
            "LANG": "C.UTF-8",
            **(extra_env or {}),
        }
        inner = ["env", "-i", *(f"{k}={v}" for k, v in env.items()), str(executable), *args]
        if chosen.hides_paths:
            mounts = " && ".join(
                f"mount -t tmpfs -o ro,size=4k tiro-hidden {shlex.quote(str(p))}"
                for p in hidden_paths(repo)
                if not _contains(p, executable)
            )
            script = f"{mounts} && cd {shlex.quote(str(cwd))} && exec {shlex.join(inner)}"
            cmd = [*chosen.prefix, "sh", "-c", script]
        elif chosen.strace:
            trace = scratch_dir / "strace.log"
            cmd = ["strace", "-f", "-qq", "-e", "trace=connect", "-o", str(trace), *inner]
        else:
            cmd = [*chosen.prefix, *inner]
        started = time.perf_counter()
        proc = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        seconds = time.perf_counter() - started
        network_used = False
        if chosen.strace:
            log = (scratch_dir / "strace.log").read_text(errors="replace")
            network_used = bool(INET_CONNECT.search(log))
    return IsolatedRun(
        proc.returncode, proc.stdout, proc.stderr, seconds, chosen.description, network_used
    )


def _contains(folder: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False
