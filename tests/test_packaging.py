"""The packaged build's rules, and Tiro working from an installed copy with no checkout around.

The frozen build itself is made and checked by CI (``packaging/build.py``, then
``packaging/check_bundle.py``); these tests run in the normal suite and catch, without
PyInstaller:

- a test-only or fine-tuning library that the build would not leave out (the rules are
  compared with pyproject.toml's extras, so a new dev dependency must be added there);
- a Qt plugin or native library the app needs that a drop rule would remove;
- an import or a data file that only works because the checkout is on ``sys.path``:
  Tiro is built into a wheel, installed into a fresh virtual environment that sees the
  dependencies but *not* the development install (no editable finder, no checkout),
  and every module of the installed distribution is imported with ``python -I`` from a
  folder outside the repository; then ``tiro self-test`` runs from that install.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "packaging"))

import bundle_rules  # noqa: E402

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
TOP_PACKAGES = ("app", "engine", "retrain")


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]


def _top_level_modules(distribution: str) -> set[str]:
    """The import names a distribution provides (from its installed files)."""
    dist = importlib.metadata.distribution(distribution)
    names = set()
    for file in dist.files or ():
        first = file.parts[0]
        if first.endswith((".dist-info", ".data")) or first in ("..", "bin"):
            continue
        name = first.removesuffix(".py").split(".")[0]
        if name and not name.startswith("__") and not name.endswith(".libs"):
            names.add(name)
    return names


@pytest.mark.parametrize("requirement", PYPROJECT["project"]["optional-dependencies"]["dev"])
def test_every_dev_dependency_is_left_out_of_the_build(requirement: str) -> None:
    modules = _top_level_modules(_requirement_name(requirement))
    assert modules, requirement
    excluded = set(bundle_rules.excluded_modules(finetune=False))
    assert modules <= excluded, f"{requirement}: {sorted(modules - excluded)} would be bundled"
    assert modules <= set(bundle_rules.excluded_modules(finetune=True))


@pytest.mark.parametrize("requirement", PYPROJECT["project"]["optional-dependencies"]["finetune"])
def test_the_finetune_extra_is_left_out_only_of_the_default_build(requirement: str) -> None:
    modules = _top_level_modules(_requirement_name(requirement))
    assert modules <= set(bundle_rules.excluded_modules(finetune=False))
    assert not modules & set(bundle_rules.excluded_modules(finetune=True))


def test_the_runtime_dependencies_are_not_excluded() -> None:
    excluded = set(bundle_rules.excluded_modules(finetune=False))
    for requirement in PYPROJECT["project"]["dependencies"]:
        name = _requirement_name(requirement)
        modules = _top_level_modules(name)
        assert not modules & excluded, f"{requirement}: {sorted(modules & excluded)} excluded"


@pytest.mark.parametrize(
    "destination",
    [
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/platforms/libqwayland.so",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "PySide6/Qt/plugins/wayland-shell-integration/libxdg-shell.so",
        "PySide6/Qt/plugins/wayland-graphics-integration-client/libqt-plugin-wayland-egl.so",
        "PySide6/Qt/plugins/xcbglintegrations/libqxcb-glx-integration.so",
        "PySide6/Qt/plugins/platforms/qwindows.dll",
        "PySide6/Qt/plugins/platforms/libqcocoa.dylib",
        "prepared-models/base/base-tiny.en-1a5afae0/weights/ct2/model.bin",
        "engine/data/reference/jfk_inaugural_44k_stereo.flac",
        "whisper_normalizer/normalizers/english.json",
        "PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so",
        "libglib-2.0.so.0",
        "libxkbcommon-x11.so.0",
        "libportaudio.so.2",
        "rapidfuzz/distance/metrics_cpp.cpython-311-x86_64-linux-gnu.so",
        "rapidfuzz/utils_cpp.cpython-311-x86_64-linux-gnu.so",
        "PySide6/Qt/lib/libQt6OpenGL.so.6",
        "PySide6/QtOpenGLWidgets.abi3.so",
        "PySide6/Qt/lib/libQt6DBus.so.6",
    ],
)
def test_what_the_app_needs_is_kept(destination: str) -> None:
    assert not bundle_rules.is_dropped(destination)
    assert not bundle_rules.is_dropped(destination.replace("/", "\\"))


@pytest.mark.parametrize(
    "destination",
    [
        "PySide6/Qt/plugins/platforms/libqeglfs.so",
        "PySide6\\Qt\\plugins\\platforms\\libqlinuxfb.so",
        "PySide6/Qt/translations/qt_de.qm",
        "faster_whisper/assets/silero_vad_v6.onnx",
        "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
        "libcairo.so.2",
        "libgtk-3.so.0",
        "rapidfuzz/fuzz_cpp_avx2.cpython-311-x86_64-linux-gnu.so",
        "rapidfuzz/process_cpp_impl.cpython-311-x86_64-linux-gnu.so",
        "PySide6/Qt/lib/libQt6Network.so.6",
        "PySide6/Qt/lib/libQt6EglFsKmsSupport.so.6",
        "libgssapi_krb5.so.2",
    ],
)
def test_what_the_app_never_uses_is_dropped(destination: str) -> None:
    assert bundle_rules.is_dropped(destination)


# --------------------------------------------------------------------- installed copy


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with Tiro installed from a wheel; it sees the dependencies, not the checkout.

    The development venv's site-packages is added through a ``.pth`` line: its packages
    import, but its own ``.pth`` files (the editable install's finder, which maps
    ``app``/``engine``/``retrain`` to the checkout) are not processed.
    """
    scratch = tmp_path_factory.mktemp("installed")
    wheels = scratch / "wheels"
    # Build with this venv's setuptools when it has one (no download); else pip's isolated
    # build fetches it from the package index, as any install from source would.
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q",
         "-w", str(wheels), str(ROOT)],
        check=True, cwd=scratch, timeout=300,
    )  # fmt: skip
    env_dir = scratch / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120
    )
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    (site / "dev-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (wheel,) = wheels.glob("tiro-*.whl")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
         str(wheel)],
        check=True, timeout=300,
    )  # fmt: skip
    return python


def _installed_modules(python: Path) -> list[str]:
    code = (
        "import json, pkgutil, importlib\n"
        f"names = []\nfor top in {TOP_PACKAGES!r}:\n"
        "    pkg = importlib.import_module(top)\n"
        "    names.append(top)\n"
        "    names += [m.name for m in pkgutil.walk_packages(pkg.__path__, top + '.')]\n"
        "print(json.dumps(names))\n"
    )
    out = subprocess.run(
        [str(python), "-I", "-c", code], check=True, capture_output=True, text=True, cwd="/"
    )
    return json.loads(out.stdout)


def test_every_module_imports_from_the_installed_copy_alone(installed: Path, tmp_path) -> None:
    modules = _installed_modules(installed)
    assert {"app.cli", "engine.transcriber", "retrain.store", "app.gui"} <= set(modules)
    code = (
        "import importlib, json, sys\n"
        "modules = json.loads(sys.argv[1])\n"
        "failed, where = {}, {}\n"
        "for name in modules:\n"
        "    try:\n"
        "        where[name] = importlib.import_module(name).__file__\n"
        "    except Exception as exc:\n"
        "        failed[name] = f'{type(exc).__name__}: {exc}'\n"
        "print(json.dumps({'failed': failed, 'where': where}))\n"
    )
    out = subprocess.run(
        [str(installed), "-I", "-c", code, json.dumps(modules)],
        check=True, capture_output=True, text=True, cwd=tmp_path, timeout=600,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip
    result = json.loads(out.stdout)
    assert result["failed"] == {}
    outside = {n: f for n, f in result["where"].items() if Path(f).is_relative_to(ROOT)}
    assert outside == {}, "imported from the checkout, not the installed copy"


# A finder that refuses the modules in ``blocked``, as the frozen build lacks them.
LEFT_OUT_FINDER = (
    "class LeftOut(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if any(name == b or name.startswith(b + '.') for b in blocked):\n"
    "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
    "sys.meta_path.insert(0, LeftOut())\n"
)
# The spec's runtime hooks, which the frozen app runs before anything else.
RUNTIME_HOOKS = [str(p) for p in sorted((ROOT / "packaging" / "rthooks").glob("*.py"))]


def test_every_module_imports_without_what_the_default_build_leaves_out(
    installed: Path, tmp_path
) -> None:
    """Import every module with the build's left-out modules blocked, as in the frozen app.

    A module the app imports but the build drops would only show in the frozen app
    (pyqtgraph's plots once needed Qt's OpenGL module, which the build had dropped: the
    window never opened). Optional imports that fail cleanly, as pyqtgraph's own ones
    and torch for fine-tuning do, are fine; an import error is not.
    """
    modules = _installed_modules(installed)
    blocked = bundle_rules.excluded_modules(finetune=False)
    code = (
        "import importlib, importlib.abc, json, runpy, sys\n"
        "modules, blocked = json.loads(sys.argv[1]), json.loads(sys.argv[2])\n"
        + LEFT_OUT_FINDER
        + "for hook in json.loads(sys.argv[3]):\n"
        "    runpy.run_path(hook)\n"
        "failed = {}\n"
        "for name in modules:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ModuleNotFoundError as exc:\n"
        "        failed[name] = exc.name\n"
        "    except Exception as exc:\n"
        "        failed[name] = f'{type(exc).__name__}: {exc}'\n"
        "print(json.dumps(failed))\n"
    )
    out = subprocess.run(
        [str(installed), "-I", "-c", code,
         json.dumps(modules), json.dumps(blocked), json.dumps(RUNTIME_HOOKS)],
        check=True, capture_output=True, text=True, cwd=tmp_path, timeout=600,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip
    failed = json.loads(out.stdout)
    # The trainer's own modules need torch; the rest of Tiro reaches them only after
    # retrain.finetune.availability() has said the extra is installed.
    finetune_only = {
        name: missing
        for name, missing in failed.items()
        if name.startswith("retrain.finetune.")
        and missing.split(".")[0] in bundle_rules.FINETUNE_MODULES
    }
    assert set(finetune_only) == {
        "retrain.finetune.cross_attention",
        "retrain.finetune.model",
        "retrain.finetune.soup",
        "retrain.finetune.trainer",
    }
    assert {n: m for n, m in failed.items() if n not in finetune_only} == {}


def test_the_installed_copy_passes_its_self_test(installed: Path, tmp_path) -> None:
    home = tmp_path / "home"
    out = subprocess.run(
        [str(installed), "-I", "-c", "import sys; from app.cli import main; sys.exit(main())",
         "self-test", "--backend", "ctranslate2"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), "TIRO_HOME": str(home / "tiro")},
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "self-test passed" in out.stdout


def test_without_the_finetune_extra_the_app_says_so_and_keeps_tier_one_learning() -> None:
    """The Learning Data window's line, as a build without torch/transformers shows it.

    ``TIRO_DISABLE_FINETUNE`` makes ``availability()`` answer as if the libraries were
    missing (retrain.finetune.availability); run in a subprocess so its cache is fresh.
    """
    code = (
        "from app.gui.dialogs.learning_data import learning_scope_text\n"
        "print(learning_scope_text())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "TIRO_DISABLE_FINETUNE": "1", "QT_QPA_PLATFORM": "offscreen"},
        cwd=ROOT,
    )  # fmt: skip
    assert out.stdout.startswith("Fine-tuning is not available in this installation")
    assert "keeps learning your vocabulary and correction rules" in out.stdout


def test_the_health_charts_draw_the_same_with_the_opengl_placeholder(tmp_path) -> None:
    """The build leaves PySide6.QtOpenGL out and gives pyqtgraph a placeholder
    (packaging/rthooks): Tiro's charts must draw pixel for pixel as with the real module."""
    code = (
        "import importlib, importlib.abc, json, runpy, sys\n"
        "blocked, hooks = json.loads(sys.argv[1]), json.loads(sys.argv[2])\n"
        + LEFT_OUT_FINDER
        + "for hook in hooks:\n"
        "    runpy.run_path(hook)\n"
        "from types import SimpleNamespace as P\n"
        "from PySide6.QtCore import QBuffer\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from app.gui.health.charts import EditRateChart, TrainingChart\n"
        "rates = EditRateChart()\n"
        "rates.show_points([P(version=v, week=w, rate=r) for v, w, r in [\n"
        "    ('base', '2026-11-02', 0.12), ('base', '2026-11-09', 0.10),\n"
        "    ('p-1', '2026-11-09', 0.06), ('p-1', '2026-11-16', 0.04)]])\n"
        "bars = TrainingChart()\n"
        "bars.show_training(0.31, 0.21, 0.07)\n"
        "images = []\n"
        "for chart in (rates, bars):\n"
        "    chart.resize(480, 240)\n"
        "    chart.show()\n"
        "    app.processEvents()\n"
        "    buffer = QBuffer()\n"
        "    buffer.open(QBuffer.OpenModeFlag.WriteOnly)\n"
        "    chart.grab().save(buffer, 'BMP')\n"
        "    images.append(bytes(buffer.data()).hex())\n"
        "print(json.dumps({'placeholder': type(sys.modules['PySide6.QtOpenGL']).__name__,\n"
        "                  'real': hasattr(sys.modules['PySide6.QtOpenGL'], '__file__'),\n"
        "                  'images': images}))\n"
    )

    def draw(blocked: list[str]) -> dict:
        done = subprocess.run(
            [sys.executable, "-c", code, json.dumps(blocked), json.dumps(RUNTIME_HOOKS)],
            capture_output=True, text=True, cwd=ROOT, timeout=120,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    real = draw([])
    placeholder = draw(["PySide6.QtOpenGL"])
    assert real["real"] and not placeholder["real"]
    assert placeholder["images"] == real["images"]
    assert len(set(real["images"])) == 2
