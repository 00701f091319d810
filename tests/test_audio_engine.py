"""The Qt-free audio engine: WSOLA time-stretch, the player's clock and loop, recording.

The sounddevice streams are the system boundary (this machine has no sound card):
the tests replace them with fakes that call the real callbacks the way PortAudio
does, with real speech from the corpus.
"""

from __future__ import annotations

import threading
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from app.audio.devices import AudioUnavailable
from app.audio.player import PlaybackRenderer, Player
from app.audio.recorder import Recorder, level_db
from app.audio.timestretch import WsolaStretcher

RATE = 16_000


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as source:
        assert source.getsampwidth() == 2
        data = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
        data = data.reshape(-1, source.getnchannels())[:, 0]
        return (data.astype(np.float32) / 32768.0), source.getframerate()


@pytest.fixture(scope="module")
def speech(general_corpus: Path) -> np.ndarray:
    samples, rate = read_wav(general_corpus / "cheetah_platforms.wav")
    assert rate == RATE
    return samples


def dominant_frequency(signal: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.argmax(spectrum)) * RATE / len(signal)


def tone(seconds: float, hz: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def stretch_all(source: np.ndarray, speed: float) -> np.ndarray:
    stretcher = WsolaStretcher(source, RATE)
    stretcher.reset(0, speed)
    blocks = []
    while not stretcher.at_end:
        blocks.append(stretcher.read(1024))
    return np.concatenate(blocks)


def test_speed_one_is_a_bit_exact_copy(speech: np.ndarray) -> None:
    out = stretch_all(speech, 1.0)
    assert np.array_equal(out[: len(speech)], speech)


@pytest.mark.parametrize("speed", [0.5, 0.75, 1.5, 2.0])
def test_time_stretch_changes_duration_but_keeps_pitch(speed: float) -> None:
    source = tone(3.0)
    out = stretch_all(source, speed)
    assert len(out) * speed == pytest.approx(len(source), rel=0.04)
    assert dominant_frequency(out[4000:20384]) == pytest.approx(220.0, abs=2.0)
    # No clicks: no step larger than the tone's own steepest slope (plus a little).
    steepest = 0.5 * 2 * np.pi * 220 / RATE
    assert np.max(np.abs(np.diff(out[2000:-4000]))) < steepest * 1.3


def test_stretched_speech_keeps_its_energy(speech: np.ndarray) -> None:
    for speed in (0.5, 2.0):
        out = stretch_all(speech, speed)
        rms_in = np.sqrt(np.mean(speech**2))
        rms_out = np.sqrt(np.mean(out[: int(len(speech) / speed)] ** 2))
        assert rms_out == pytest.approx(rms_in, rel=0.25)


def test_position_tracks_the_source_at_any_speed() -> None:
    for speed in (0.5, 1.0, 1.5):
        renderer = PlaybackRenderer(tone(5.0), RATE)
        renderer.set_speed(speed)
        renderer.render(RATE)  # one second of output
        assert renderer.position == pytest.approx(speed, abs=0.04)


def test_loop_keeps_playback_inside_the_span(speech: np.ndarray) -> None:
    renderer = PlaybackRenderer(speech, RATE)
    renderer.loop = (1.0, 1.5)
    first = renderer.render(RATE // 2)
    second = renderer.render(RATE // 2)
    assert np.array_equal(first, speech[RATE : RATE + RATE // 2])
    assert np.array_equal(second, first)
    assert 1.0 <= renderer.position <= 1.5


class FakeOutputStream:
    """Stands in for sounddevice.OutputStream: the test pulls blocks through the callback."""

    def __init__(self, samplerate, device, callback, finished) -> None:
        self.samplerate = samplerate
        self.callback = callback
        self.finished = finished
        self.started = self.closed = False

    def start(self) -> None:
        self.started = True

    def abort(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True

    def pull(self, frames: int) -> np.ndarray:
        out = np.zeros((frames, 1), dtype=np.float32)
        try:
            self.callback(out, frames, None, None)
        except Exception:
            self.started = False
            self.finished()
        return out[:, 0]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_player_plays_pauses_seeks_and_reports_the_end(speech: np.ndarray) -> None:
    streams: list[FakeOutputStream] = []
    clock = FakeClock()

    def factory(*args):
        streams.append(FakeOutputStream(*args))
        return streams[-1]

    player = Player(stream_factory=factory, clock=clock)
    ended = threading.Event()
    player.on_end = ended.set
    player.load(speech, RATE)
    player.play()
    block = streams[-1].pull(RATE // 2)
    assert np.array_equal(block, speech[: RATE // 2])
    clock.now += 0.25  # halfway through the block that is being heard
    assert player.position == pytest.approx(0.25, abs=0.01)
    player.pause()
    assert not player.playing and streams[-1].closed
    assert player.position == pytest.approx(0.25, abs=0.01)
    player.seek(2.0)
    player.set_speed(1.5)
    player.play()
    streams[-1].pull(RATE // 4)
    clock.now += 0.25
    assert player.position == pytest.approx(2.0 + 0.25 * 1.5, abs=0.03)
    player.set_speed(1.0)
    player.seek(player.duration - 0.1)
    while streams[-1].started:
        streams[-1].pull(1024)
    assert ended.is_set() and not player.playing


def test_no_output_device_becomes_one_sentence(speech: np.ndarray) -> None:
    def factory(*args):
        raise RuntimeError("Error querying device -1")  # what PortAudio says with no card

    player = Player(stream_factory=factory)
    player.load(speech, RATE)
    with pytest.raises(AudioUnavailable, match="No audio output device"):
        player.play()
    assert not player.playing


class FakeInputStream:
    """Stands in for sounddevice.InputStream: delivers a real clip in 10 ms blocks."""

    def __init__(self, samplerate, channels, device, callback, clip: np.ndarray) -> None:
        self.callback = callback
        self.clip = clip
        self.block = samplerate // 100

    def start(self) -> None:
        for first in range(0, len(self.clip), self.block):
            chunk = self.clip[first : first + self.block].reshape(-1, 1)
            self.callback(chunk, len(chunk), None, None)

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_recording_writes_a_flac_with_the_spoken_audio(speech: np.ndarray, tmp_path: Path) -> None:
    recorder = Recorder(
        samplerate=RATE,
        stream_factory=lambda *args: FakeInputStream(*args, clip=speech),
        directory=tmp_path,
    )
    recorder.start()
    assert recorder.elapsed == pytest.approx(len(speech) / RATE, abs=0.01)
    assert recorder.take_peak_db() > -30.0
    path = recorder.stop()
    assert path.suffix == ".flac" and path.parent == tmp_path
    assert not list(tmp_path.glob("*.wav"))
    with av.open(str(path)) as container:
        frames = [f.to_ndarray() for f in container.decode(audio=0)]
    decoded = np.concatenate(frames, axis=-1).reshape(-1).astype(np.float32) / 32768.0
    assert len(decoded) == len(speech)
    assert np.max(np.abs(decoded - speech)) < 1e-3


def test_missing_microphone_becomes_one_sentence(tmp_path: Path) -> None:
    def factory(*args):
        raise RuntimeError("Error opening InputStream: Invalid number of channels")

    recorder = Recorder(samplerate=RATE, stream_factory=factory, directory=tmp_path)
    with pytest.raises(AudioUnavailable, match="No microphone"):
        recorder.start()


def test_level_meter_in_dbfs() -> None:
    assert level_db(np.zeros(100, np.float32)) == -90.0
    assert level_db(np.full(100, 0.5, np.float32)) == pytest.approx(-6.02, abs=0.01)


def test_waveform_peaks_follow_the_speech(speech: np.ndarray) -> None:
    from app.audio.envelope import peaks
    from app.audio.pcm_cache import Int16Samples

    silence = np.zeros(RATE, dtype=np.float32)
    signal = np.concatenate([silence, speech, silence])
    levels = peaks(Int16Samples((signal * 32767).astype("<i2")), 100)
    assert levels.shape == (100,) and levels.max() == pytest.approx(1.0)
    edge = int(100 * len(silence) / len(signal))
    assert levels[: edge - 1].max() < 0.01 and levels[-(edge - 1) :].max() < 0.01
    assert levels[edge + 1 : -edge - 1].mean() > 0.1
