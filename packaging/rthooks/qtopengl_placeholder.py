"""PyInstaller runtime hook: a placeholder for ``PySide6.QtOpenGL`` (packaging/README.md).

pyqtgraph imports ``PySide6.QtOpenGL`` when it loads its plot items, but uses it only to
draw with OpenGL (``useOpenGL``), which Tiro never turns on. The binding is 8.9 MB, so the
build leaves it out and this module stands in for it: importing works, and touching
anything in it raises an error that says why. Runs before the app, in the frozen build
only, and only when the real module is absent.
"""

import importlib.util
import sys
import types


def _install_placeholder() -> None:
    name = "PySide6.QtOpenGL"
    try:
        present = name in sys.modules or importlib.util.find_spec(name) is not None
    except ImportError:  # PySide6 itself missing, or a finder that refuses the name
        present = False
    if present:
        return
    placeholder = types.ModuleType(name, __doc__)

    def missing(attribute: str):
        raise AttributeError(f"{name}.{attribute}: OpenGL drawing is not in this build of Tiro")

    placeholder.__getattr__ = missing  # module-level __getattr__ (PEP 562)
    sys.modules[name] = placeholder


_install_placeholder()
