"""engine.audio on real clips of every container and rate, plus media made at test time."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from media_factory import resample_for_test, write_audio, write_video

from engine import audio
from engine.corpus import read_manifest
from engine.errors import AudioDecodeError

SR = audio.SAMPLE_RATE


def _items(corpus: Path):
    return read_manifest(corpus)


# ----------------------------------------------------------------------------- corpus clips


def test_every_general_clip_probes_and_decodes_to_its_duration(general_corpus: Path) -> None:
    seen_rates, seen_containers = set(), set()
    for item in _items(general_corpus):
        info = audio.probe(item.path)
        assert info.sample_rate == item.sample_rate, item.name
        assert info.channels == item.channels, item.name
        assert info.duration == pytest.approx(item.seconds, abs=0.02), item.name
        pcm = audio.decode(item.path)
        assert pcm.dtype == np.float32 and pcm.ndim == 1
        assert len(pcm) / SR == pytest.approx(item.seconds, abs=0.03), item.name
        assert 0.01 < float(np.abs(pcm).max()) < 1.5, item.name  # resampling may overshoot
        seen_rates.add(item.sample_rate)
        seen_containers.add(item.path.suffix)
    assert {8000, 16000, 44100} <= seen_rates
    assert {".wav", ".flac", ".ogg"} <= seen_containers


def test_mp3_and_stereo_ogg_clips_decode(user_sim_corpus: Path) -> None:
    items = [i for i in _items(user_sim_corpus) if i.path.suffix in (".mp3", ".ogg")]
    assert {i.path.suffix for i in items} == {".mp3", ".ogg"}
    for item in items:
        info = audio.probe(item.path)
        assert info.channels == 2 and info.sample_rate == 44100
        pcm = audio.decode(item.path)
        assert len(pcm) / SR == pytest.approx(item.seconds, abs=0.05), item.name


def test_stereo_is_downmixed_not_one_channel(tmp_path: Path) -> None:
    # left: 300 Hz, right: 1200 Hz; the mono mix must contain both at half amplitude
    t = np.arange(44100 * 2) / 44100
    left = 0.8 * np.sin(2 * np.pi * 300 * t)
    right = 0.8 * np.sin(2 * np.pi * 1200 * t)
    path = tmp_path / "lr.wav"
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=44100, layout="stereo")
        data = (np.stack([left, right], axis=1).reshape(1, -1) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(data, format="s16", layout="stereo")
        frame.sample_rate = 44100
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    pcm = audio.decode(path)
    spectrum = np.abs(np.fft.rfft(pcm[SR // 4 : SR // 4 + SR]))
    freqs = np.fft.rfftfreq(SR, 1 / SR)
    peaks = sorted(freqs[np.argsort(spectrum)[-2:]])
    assert peaks == pytest.approx([300, 1200], abs=2)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resampling_keeps_a_tone_at_its_frequency(tmp_path: Path, rate: int) -> None:
    seconds = 2.0
    t = np.arange(int(rate * seconds)) / rate
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    path = tmp_path / f"tone_{rate}.wav"
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            (tone * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    pcm = audio.decode(path)
    assert len(pcm) == pytest.approx(seconds * SR, abs=2)
    middle = pcm[SR // 2 : SR // 2 + SR]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(len(middle))))
    peak = np.fft.rfftfreq(len(middle), 1 / SR)[int(np.argmax(spectrum))]
    assert peak == pytest.approx(1000, abs=2)
    assert float(np.sqrt(np.mean(middle**2))) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


# ----------------------------------------------------------------------------- other containers


@pytest.fixture(scope="module")
def jfk(general_corpus: Path) -> Path:
    return general_corpus / "jfk_inaugural_44k_stereo.flac"


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("speech.m4a", {"codec": "aac", "rate": 44100, "layout": "stereo", "container": "ipod"}),
        ("speech.opus", {"codec": "libopus", "rate": 48000, "container": "opus"}),
        ("speech22k.wav", {"codec": "pcm_s16le", "rate": 22050}),
        ("speech22k.flac", {"codec": "flac", "rate": 22050, "layout": "stereo"}),
    ],
)
def test_compressed_and_other_rate_audio_decodes_like_the_source(
    tmp_path: Path, jfk: Path, name: str, kwargs: dict
) -> None:
    source = audio.decode(jfk)
    path = write_audio(source, tmp_path / name, **kwargs)
    info = audio.probe(path)
    assert info.duration == pytest.approx(11.0, abs=0.05)
    pcm = audio.decode(path)
    assert len(pcm) / SR == pytest.approx(11.0, abs=0.05)
    # same speech: the envelopes (50 ms RMS) correlate strongly with the source's
    n = min(len(pcm), len(source)) // 800 * 800
    env_a = np.sqrt((source[:n].reshape(-1, 800) ** 2).mean(axis=1))
    env_b = np.sqrt((pcm[:n].reshape(-1, 800) ** 2).mean(axis=1))
    assert float(np.corrcoef(env_a, env_b)[0, 1]) > 0.95


@pytest.mark.parametrize(
    ("name", "video_codec", "audio_codec"),
    [
        ("talk.mp4", "libx264", "aac"),
        ("talk.webm", "libvpx", "libopus"),
        ("talk.mkv", "libx264", "aac"),
    ],
)
def test_audio_track_of_a_video_decodes(
    tmp_path: Path, jfk: Path, name: str, video_codec: str, audio_codec: str
) -> None:
    path = write_video(jfk, tmp_path / name, video_codec=video_codec, audio_codec=audio_codec)
    info = audio.probe(path)
    assert info.channels == 2 and info.duration == pytest.approx(11.0, abs=0.1)
    assert len(audio.decode(path)) / SR == pytest.approx(11.0, abs=0.1)


# ----------------------------------------------------------------------------- streaming, spans


def test_iter_pcm_yields_fixed_blocks_that_join_to_the_whole(jfk: Path) -> None:
    blocks = list(audio.iter_pcm(jfk, block_seconds=2.0))
    assert [len(b) for b in blocks[:-1]] == [2 * SR] * (len(blocks) - 1)
    assert 0 < len(blocks[-1]) <= 2 * SR
    np.testing.assert_array_equal(np.concatenate(blocks), audio.decode(jfk))


def test_iter_pcm_streams_a_long_file_in_bounded_memory(tmp_path: Path, jfk: Path) -> None:
    # 20 minutes of FLAC: the whole PCM would be 77 MB of float32
    speech = audio.decode(jfk)
    long = np.tile(speech, int(20 * 60 / 11) + 1)[: 20 * 60 * SR]
    path = write_audio(long, tmp_path / "long.flac", codec="flac")
    tracemalloc.start()
    total = 0
    for block in audio.iter_pcm(path, block_seconds=30.0):
        total += len(block)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert total == len(long)
    assert peak < 20e6, f"peak traced memory {peak / 1e6:.1f} MB while streaming"


@pytest.mark.parametrize(
    "clip", ["jfk_inaugural_44k_stereo.flac", "librivox_sense_0870.wav", "timit_ldc93s1_8k.ogg"]
)
def test_decode_span_matches_the_full_decode(general_corpus: Path, clip: str) -> None:
    path = general_corpus / clip
    full = audio.decode(path)
    for start, end in [(0.0, 1.0), (1.25, 2.5), (2.0, 2.9)]:
        span = audio.decode_span(path, start, end)
        assert len(span) == round((end - start) * SR)
        ref = full[round(start * SR) : round(end * SR)]
        # equal up to the resampler's sub-sample phase after a seek
        assert float(np.corrcoef(ref, span)[0, 1]) > 0.98
        assert float(np.abs(ref - span).mean()) < 0.01


def test_decode_span_from_an_mp3(user_sim_corpus: Path) -> None:
    path = user_sim_corpus / "train" / "001.mp3"
    full = audio.decode(path)
    span = audio.decode_span(path, 2.0, 4.0)
    assert float(np.corrcoef(full[2 * SR : 4 * SR], span)[0, 1]) > 0.98


def test_encode_flac_round_trips_and_is_atomic(tmp_path: Path, jfk: Path) -> None:
    span = audio.decode_span(jfk, 1.0, 3.0)
    target = tmp_path / "snippet.flac"
    audio.encode_flac(span, target)
    info = audio.probe(target)
    assert (info.container, info.sample_rate, info.channels) == ("flac", SR, 1)
    back = audio.decode(target)
    assert len(back) == len(span)
    assert float(np.abs(back - span).max()) < 1e-3  # 16-bit quantization only
    assert [p.name for p in tmp_path.iterdir()] == ["snippet.flac"]  # no temporary left


def test_loudness_is_the_rms_of_what_the_model_hears(tmp_path: Path, jfk: Path) -> None:
    samples = audio.decode(jfk)
    expected = 10 * np.log10(np.mean(samples.astype(np.float64) ** 2))
    measured = audio.loudness_dbfs(jfk)
    assert measured == pytest.approx(expected, abs=0.01)
    assert -40 < measured < -10  # a speech recording, not silence and not clipping
    quieter = audio.encode_flac(samples * 0.1, tmp_path / "quieter.flac")
    assert audio.loudness_dbfs(quieter) == pytest.approx(measured - 20.0, abs=0.1)
    silence = audio.encode_flac(np.zeros(2 * SR, np.float32), tmp_path / "silence.flac")
    assert audio.loudness_dbfs(silence) == audio.SILENCE_DBFS


def test_encode_flac_into_a_missing_folder_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        audio.encode_flac(np.zeros(SR, np.float32), tmp_path / "nope" / "x.flac")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- bad input


def _bad_files(tmp: Path, general: Path) -> dict[str, Path]:
    flac = (general / "jfk_inaugural_44k_stereo.flac").read_bytes()
    wav = (general / "librivox_sense_0870.wav").read_bytes()
    ogg = (general / "timit_ldc93s1_8k.ogg").read_bytes()
    files = {
        "missing": tmp / "missing.wav",
        "directory": tmp / "folder.wav",
        "empty": tmp / "empty.wav",
        "text": tmp / "notes.wav",
        "random": tmp / "random.mp3",
        "truncated_flac": tmp / "cut.flac",
        "truncated_wav": tmp / "cut.wav",
        "corrupt_flac": tmp / "corrupt.flac",
        "corrupt_ogg": tmp / "corrupt.ogg",
    }
    files["directory"].mkdir()
    files["empty"].write_bytes(b"")
    files["text"].write_text("Meeting notes\nThis is not a recording.\n")
    files["random"].write_bytes(np.random.default_rng(1).bytes(30_000))
    files["truncated_flac"].write_bytes(flac[: len(flac) // 3])
    files["truncated_wav"].write_bytes(wav[: len(wav) // 3])
    damaged = bytearray(flac)
    damaged[len(flac) // 4 : len(flac) * 3 // 4] = np.random.default_rng(2).bytes(len(flac) // 2)
    files["corrupt_flac"].write_bytes(bytes(damaged))
    damaged = bytearray(ogg)
    damaged[200:] = np.random.default_rng(3).bytes(len(ogg) - 200)
    files["corrupt_ogg"].write_bytes(bytes(damaged))
    return files


EXPECTED_WORDS = {
    "missing": "does not exist",
    "directory": "is a folder",
    "empty": "is empty",
    "text": "is a text file",
    "random": "not a media file",
    "truncated_flac": "truncated",
    "truncated_wav": "truncated",
    "corrupt_flac": "corrupt",
    "corrupt_ogg": "corrupt",
}


@pytest.mark.parametrize("kind", sorted(EXPECTED_WORDS))
def test_bad_input_raises_one_user_sentence(
    tmp_path: Path, general_corpus: Path, kind: str
) -> None:
    path = _bad_files(tmp_path, general_corpus)[kind]
    for call in (audio.probe, audio.decode, lambda p: list(audio.iter_pcm(p))):
        with pytest.raises(AudioDecodeError) as caught:
            call(path)
        message = str(caught.value)
        assert EXPECTED_WORDS[kind] in message
        assert "\n" not in message and message.endswith(".")
        assert path.name in message


def test_video_without_audio_is_refused(tmp_path: Path) -> None:
    path = write_video(None, tmp_path / "silent.mp4", video_codec="libx264", audio_codec=None)
    with pytest.raises(AudioDecodeError, match="video without an audio track"):
        audio.probe(path)


PROBE_MESSAGE = """
import sys
from engine import audio
from engine.errors import AudioDecodeError
try:
    audio.probe(sys.argv[1])
except AudioDecodeError as exc:
    print(exc)
"""


def test_unreadable_file_is_refused(tmp_path: Path, jfk: Path) -> None:
    path = tmp_path / "locked.flac"
    path.write_bytes(jfk.read_bytes())
    path.chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(AudioDecodeError, match="permission denied"):
            audio.probe(path)
        return
    # Root reads files whatever their permissions (CI runs as root): probe from a child
    # process whose capability bounding set lacks the two capabilities that allow it.
    setpriv = shutil.which("setpriv")
    assert setpriv, "util-linux's setpriv is needed to test this as root"
    child = subprocess.run(
        [
            setpriv,
            "--bounding-set",
            "-dac_override,-dac_read_search",
            sys.executable,
            "-c",
            PROBE_MESSAGE,
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert "permission denied" in child.stdout, child.stdout + child.stderr


def test_resample_helper_used_by_tests_is_itself_right() -> None:
    t = np.arange(SR) / SR
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    up = resample_for_test(tone, 44100)
    spectrum = np.abs(np.fft.rfft(up))
    assert np.fft.rfftfreq(len(up), 1 / 44100)[int(np.argmax(spectrum))] == pytest.approx(
        440, abs=2
    )
