"""Access to PortAudio through sounddevice, with failures as one readable sentence.

sounddevice loads the PortAudio library when it is imported, so it is imported
here lazily: a machine without PortAudio still runs Tiro, it just cannot play or
record, and says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import ModuleType

log = logging.getLogger(__name__)

NO_PORTAUDIO = (
    "Sound is unavailable because the PortAudio library is missing; install it "
    "(on Debian or Ubuntu: sudo apt install libportaudio2) and restart Tiro."
)
NO_OUTPUT = "No audio output device was found; connect speakers or headphones and try again."
NO_INPUT = (
    "No microphone was found; connect one (or allow Tiro to use it in your system's "
    "privacy settings) and try again."
)


class AudioUnavailable(Exception):
    """Sound cannot be played or recorded; ``str(exc)`` is the sentence for the user."""


@dataclass(frozen=True, slots=True)
class AudioDevice:
    index: int
    name: str
    host_api: str
    default_samplerate: float
    input_channels: int
    output_channels: int
    is_default_input: bool = False
    is_default_output: bool = False


_module: ModuleType | None = None


def sounddevice_module() -> ModuleType:
    """The sounddevice module, or AudioUnavailable when PortAudio cannot be loaded."""
    global _module
    if _module is None:
        try:
            import sounddevice
        except OSError as exc:  # raised by sounddevice when libportaudio is absent
            log.warning("PortAudio could not be loaded: %s", exc)
            raise AudioUnavailable(NO_PORTAUDIO) from exc
        _module = sounddevice
    return _module


def list_devices() -> list[AudioDevice]:
    sd = sounddevice_module()
    try:
        devices = sd.query_devices()
        host_apis = sd.query_hostapis()
        default_in, default_out = sd.default.device
    except Exception as exc:  # PortAudioError and friends: treat as "no devices"
        log.warning("listing audio devices failed: %s", exc)
        return []
    found = []
    for index, info in enumerate(devices):
        found.append(
            AudioDevice(
                index=index,
                name=str(info["name"]),
                host_api=str(host_apis[info["hostapi"]]["name"]),
                default_samplerate=float(info["default_samplerate"]),
                input_channels=int(info["max_input_channels"]),
                output_channels=int(info["max_output_channels"]),
                is_default_input=index == default_in,
                is_default_output=index == default_out,
            )
        )
    return found


def input_devices() -> list[AudioDevice]:
    return [device for device in list_devices() if device.input_channels > 0]


def output_devices() -> list[AudioDevice]:
    return [device for device in list_devices() if device.output_channels > 0]
