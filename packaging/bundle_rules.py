"""What goes into the frozen build and what stays out (used by ``tiro.spec``; tested).

Every rule here was measured (packaging/README.md, "What is in the bundle"): the
budget is 350 MB for the whole folder, model included, and PySide6, PyAV,
CTranslate2 and numpy together are well over that before trimming.
"""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

PREPARED_DIR_NAME = "prepared-models"  # engine.prepare.PREPARED_DIR_NAME

# Tools for tests and development: never in a build.
TEST_AND_DEV_MODULES: tuple[str, ...] = (
    "pytest",
    "_pytest",
    "py",  # pytest's py.path shim
    "pytestqt",
    "pytest_timeout",
    "pluggy",
    "iniconfig",
    "ruff",
    "importlinter",
    "grimp",
    "srt",
    "srt_tools",
    "webvtt",
    "setuptools",
    "pkg_resources",
    "pip",
    "distutils",
    "IPython",
    "tkinter",
    "_tkinter",
)

# The optional fine-tuning extra (``tiro[finetune]``): only in the --finetune variant.
FINETUNE_MODULES: tuple[str, ...] = (
    "torch",
    "torchgen",
    "functorch",
    "transformers",
    "safetensors",
    "peft",
    "sympy",
    "mpmath",
    "networkx",
)

# Installed as dependencies of dependencies but never used by Tiro at run time.
UNUSED_MODULES: tuple[str, ...] = (
    # faster-whisper's silero VAD; the engine's default has VAD off and says so when
    # VAD is asked for in a build without it (engine.transcriber).
    "onnxruntime",
    # huggingface_hub's download accelerator: Tiro never downloads.
    "hf_xet",
    # Qt modules the app does not use (it is a QtWidgets app with no QML, network or SVG).
    # pyqtgraph imports QtOpenGL but uses it only to draw with OpenGL, which Tiro never
    # turns on: the build gives it a placeholder (rthooks/qtopengl_placeholder.py) instead
    # of the 8.9 MB binding. QtOpenGLWidgets stays: pyqtgraph subclasses QOpenGLWidget.
    "PySide6.QtOpenGL",
    "PySide6.QtQml",
    "PySide6.QtQuick",
    "PySide6.QtQuickControls2",
    "PySide6.QtQuickWidgets",
    "PySide6.QtQuickTest",
    "PySide6.QtNetwork",
    "PySide6.QtSvg",
    "PySide6.QtSvgWidgets",
    "PySide6.QtDesigner",
    "PySide6.QtHelp",
    "PySide6.QtSql",
    "PySide6.QtTest",
    "PySide6.QtUiTools",
    "PySide6.QtXml",
    "PySide6.QtConcurrent",
    "PySide6.QtPrintSupport",
    "PySide6.QtLabsStyleKit",
    "PySide6.QtQmlFeatures",
)

# Collected files (destination paths, '/'-separated) left out of the folder.
DROPPED_FILES: tuple[str, ...] = (
    # English-only app: Qt's own translations are never loaded.
    "PySide6/Qt/translations/*",
    # Platform plugins other than xcb, wayland, offscreen (and macOS/Windows natives).
    "PySide6/Qt/plugins/platforms/*eglfs*",
    "PySide6/Qt/plugins/platforms/*linuxfb*",
    "PySide6/Qt/plugins/platforms/*minimal*",
    "PySide6/Qt/plugins/platforms/*vnc*",
    "PySide6/Qt/plugins/platforms/*vkkhrdisplay*",
    "PySide6/Qt/plugins/platforms/*direct2d*",
    "PySide6/Qt/plugins/egldeviceintegrations/*",
    # evdev/tslib input for kiosk devices without a window system.
    "PySide6/Qt/plugins/generic/*",
    # The app draws its icons with QPainter and shows no images.
    "PySide6/Qt/plugins/imageformats/*",
    "PySide6/Qt/plugins/iconengines/*",
    "PySide6/Qt/plugins/platforminputcontexts/*virtualkeyboard*",
    # Server side of Wayland (a compositor), not a client.
    "PySide6/Qt/plugins/wayland-graphics-integration-server/*",
    "PySide6/Qt/plugins/wayland-graphics-integration-client/*server*",
    "PySide6/Qt/plugins/networkinformation/*",
    "PySide6/Qt/plugins/tls/*",
    "PySide6/Qt/plugins/qmltooling/*",
    "PySide6/Qt/plugins/sqldrivers/*",
    "PySide6/Qt/plugins/printsupport/*",
    "PySide6/Qt/plugins/designer/*",
    # The GTK platform theme (native GTK file dialogs) and the libraries only it links.
    # The app draws its own theme; and a bundled cairo/pango next to the user's own GTK
    # would clash with it. Checked: no other file in the build needs any of these.
    "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
    *(
        f"{name}*"
        for name in (
            "libgtk-3.so",
            "libgdk-3.so",
            "libgdk_pixbuf-2.0.so",
            "libcairo.so",
            "libcairo-gobject.so",
            "libatk-1.0.so",
            "libpango-1.0.so",
            "libpangocairo-1.0.so",
            "libpangoft2-1.0.so",
            "libpixman-1.so",
            "libharfbuzz.so",
            "libgraphite2.so",
            "libfribidi.so",
            "libthai.so",
            "libdatrie.so",
            "libjpeg.so",
            "libXrender.so",
            "libXext.so",
            "libgio-2.0.so",
            "libgobject-2.0.so",
            "libgmodule-2.0.so",
            "libmount.so",
            "libblkid.so",
            "libselinux.so",
        )
    ),
    # Qt libraries that nothing in the build loads: QtNetwork (its Python module is left
    # out above; the library came with plugins dropped here) and the Kerberos libraries
    # only it links; the eglfs support libraries (their platform plugins are dropped).
    "PySide6/Qt/lib/libQt6Network.so*",
    "PySide6/Qt/lib/libQt6EglFs*",
    "PySide6/Qt/lib/libQt6EglFS*",
    *(
        f"{name}*"
        for name in (
            "libgssapi_krb5.so",
            "libkrb5.so",
            "libk5crypto.so",
            "libkrb5support.so",
            "libkeyutils.so",
            "libcom_err.so",
        )
    ),
    # rapidfuzz's compiled fuzz and process modules: Tiro (and jiwer) use only
    # rapidfuzz.distance; rapidfuzz falls back to its pure-Python fuzz and process.
    "rapidfuzz/fuzz_cpp*",
    "rapidfuzz/process_cpp_impl*",
    # faster-whisper's silero VAD model (onnxruntime is left out, see above).
    "faster_whisper/assets/*.onnx",
)

# Qt platform plugins that must be in every Linux build (checked by the tests and build.py).
REQUIRED_LINUX_PLATFORM_PLUGINS: tuple[str, ...] = (
    "libqxcb.so",
    "libqwayland*.so",
    "libqoffscreen.so",
)


def excluded_modules(finetune: bool) -> list[str]:
    modules = [*TEST_AND_DEV_MODULES, *UNUSED_MODULES]
    if not finetune:
        modules += FINETUNE_MODULES
    return modules


def is_dropped(destination: str) -> bool:
    path = PurePosixPath(destination.replace("\\", "/")).as_posix()
    return any(fnmatch.fnmatch(path, pattern) for pattern in DROPPED_FILES)


def keep(entries: Iterable[tuple]) -> list[tuple]:
    """The collected (destination, source, kind) entries that stay in the build."""
    return [entry for entry in entries if not is_dropped(entry[0])]


def icon_for_platform(spec_dir: str) -> str | None:
    icons = Path(spec_dir) / "icons"
    if sys.platform == "win32":
        return str(icons / "tiro.ico")
    if sys.platform == "darwin":
        return str(icons / "tiro.icns")
    return None
