"""The app's preferences, in an INI file under TIRO_HOME (never the platform default place).

Typed accessors over QSettings, so the rest of the app never spells a key twice.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings

from engine.paths import tiro_home

BACKENDS = ("auto", "ctranslate2", "whispercpp")
RUNNERS = ("thread", "process")


class Settings:
    def __init__(self, settings: QSettings | None = None) -> None:
        self.qsettings = settings or QSettings(
            str(tiro_home() / "settings.ini"), QSettings.Format.IniFormat
        )

    # -- generic -------------------------------------------------------------------------
    def _get(self, key: str, default, kind):
        value = self.qsettings.value(key, default)
        if kind is bool:
            if isinstance(value, str):
                return value.lower() in ("1", "true", "yes", "on")
            return bool(value)
        try:
            return kind(value)
        except (TypeError, ValueError):
            return default

    def _set(self, key: str, value) -> None:
        self.qsettings.setValue(key, value)

    def sync(self) -> None:
        self.qsettings.sync()

    # -- transcription -------------------------------------------------------------------
    @property
    def backend(self) -> str:
        value = self._get("transcription/backend", "auto", str)
        return value if value in BACKENDS else "auto"

    @backend.setter
    def backend(self, value: str) -> None:
        self._set("transcription/backend", value if value in BACKENDS else "auto")

    @property
    def threads(self) -> int:
        """CPU threads for the model; 0 lets the engine choose."""
        return max(0, self._get("transcription/threads", 0, int))

    @threads.setter
    def threads(self, value: int) -> None:
        self._set("transcription/threads", max(0, int(value)))

    @property
    def runner(self) -> str:
        """Where transcription runs: in a thread of the app or in a worker process."""
        value = self._get("transcription/runner", "process", str)
        return value if value in RUNNERS else "process"

    @runner.setter
    def runner(self, value: str) -> None:
        self._set("transcription/runner", value)

    # -- editor --------------------------------------------------------------------------
    @property
    def unsure_threshold(self) -> float:
        """Words the model gave a probability below this are marked for checking."""
        return min(1.0, max(0.0, self._get("editor/unsure_threshold", 0.5, float)))

    @unsure_threshold.setter
    def unsure_threshold(self, value: float) -> None:
        self._set("editor/unsure_threshold", float(value))

    @property
    def show_changes(self) -> bool:
        return self._get("editor/show_changes", False, bool)

    @show_changes.setter
    def show_changes(self, value: bool) -> None:
        self._set("editor/show_changes", bool(value))

    @property
    def follow_playback(self) -> bool:
        return self._get("editor/follow_playback", True, bool)

    @follow_playback.setter
    def follow_playback(self, value: bool) -> None:
        self._set("editor/follow_playback", bool(value))

    # -- playback ------------------------------------------------------------------------
    @property
    def skip_seconds(self) -> float:
        return min(30.0, max(0.5, self._get("playback/skip_seconds", 3.0, float)))

    @skip_seconds.setter
    def skip_seconds(self, value: float) -> None:
        self._set("playback/skip_seconds", float(value))

    @property
    def typing_pauses_playback(self) -> bool:
        return self._get("playback/typing_pauses", True, bool)

    @typing_pauses_playback.setter
    def typing_pauses_playback(self, value: bool) -> None:
        self._set("playback/typing_pauses", bool(value))

    @property
    def speed(self) -> float:
        return min(2.0, max(0.5, self._get("playback/speed", 1.0, float)))

    @speed.setter
    def speed(self, value: float) -> None:
        self._set("playback/speed", float(value))

    @property
    def volume(self) -> float:
        return min(1.0, max(0.0, self._get("playback/volume", 1.0, float)))

    @volume.setter
    def volume(self, value: float) -> None:
        self._set("playback/volume", float(value))

    @property
    def output_device(self) -> str:
        """The output device's name; empty for the system default."""
        return self._get("playback/output_device", "", str)

    @output_device.setter
    def output_device(self, value: str) -> None:
        self._set("playback/output_device", value)

    # -- recording -----------------------------------------------------------------------
    @property
    def input_device(self) -> str:
        return self._get("recording/input_device", "", str)

    @input_device.setter
    def input_device(self, value: str) -> None:
        self._set("recording/input_device", value)

    # -- shortcuts -----------------------------------------------------------------------
    def shortcut(self, action_id: str) -> str | None:
        """The user's key sequence for an action (None: the default)."""
        value = self.qsettings.value(f"shortcuts/{action_id}")
        return None if value is None else str(value)

    def set_shortcut(self, action_id: str, keys: str | None) -> None:
        if keys is None:
            self.qsettings.remove(f"shortcuts/{action_id}")
        else:
            self._set(f"shortcuts/{action_id}", keys)

    # -- window --------------------------------------------------------------------------
    def window_state(self) -> tuple[QByteArray | None, QByteArray | None]:
        geometry = self.qsettings.value("window/geometry")
        state = self.qsettings.value("window/state")
        return (
            geometry if isinstance(geometry, QByteArray) else None,
            state if isinstance(state, QByteArray) else None,
        )

    def save_window_state(self, geometry: QByteArray, state: QByteArray) -> None:
        self._set("window/geometry", geometry)
        self._set("window/state", state)

    def splitter_state(self, name: str) -> QByteArray | None:
        value = self.qsettings.value(f"window/splitter_{name}")
        return value if isinstance(value, QByteArray) else None

    def save_splitter_state(self, name: str, state: QByteArray) -> None:
        self._set(f"window/splitter_{name}", state)
