"""Making media files at test time with PyAV (the ffmpeg CLI may not exist).

Videos and compressed audio are encoded from real corpus clips, so tests see
the same speech in other containers and codecs.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from engine.audio import decode


def _audio_frames(samples: np.ndarray, rate: int, layout: str, fmt: str, frame_size: int):
    channels = 2 if layout == "stereo" else 1
    planar = fmt.endswith("p")
    base = fmt.rstrip("p")
    data = np.tile(samples.reshape(1, -1), (channels, 1))
    if base == "s16":
        data = (np.clip(data, -1, 1) * 32767).astype(np.int16)
    else:
        data = data.astype(np.float32)
    step = frame_size or 1024
    for offset in range(0, data.shape[1], step):
        piece = np.ascontiguousarray(data[:, offset : offset + step])
        if not planar:
            piece = piece.T.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(piece, format=fmt, layout=layout)
        frame.sample_rate = rate
        frame.pts = offset
        frame.time_base = Fraction(1, rate)
        yield frame


def resample_for_test(samples16k: np.ndarray, rate: int) -> np.ndarray:
    """Resample 16 kHz audio to ``rate`` with libswresample (for making test files)."""
    if rate == 16000:
        return samples16k
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    out = []
    for frame in _audio_frames(samples16k, 16000, "mono", "flt", 4096):
        for f in resampler.resample(frame):
            out.append(f.to_ndarray().reshape(-1))
    for f in resampler.resample(None):
        out.append(f.to_ndarray().reshape(-1))
    return np.concatenate(out)


def write_audio(
    samples16k: np.ndarray,
    path: Path,
    *,
    codec: str,
    rate: int = 16000,
    layout: str = "mono",
    container: str | None = None,
) -> Path:
    """Encode 16 kHz speech as ``codec`` at ``rate`` into ``path``."""
    samples = resample_for_test(samples16k, rate)
    with av.open(str(path), mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        fmt = stream.codec_context.codec.audio_formats[0].name
        stream.format = fmt
        size = stream.codec_context.frame_size or 1024
        for frame in _audio_frames(samples, rate, layout, fmt, size):
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def write_video(
    source_audio: Path | None,
    path: Path,
    *,
    video_codec: str,
    audio_codec: str | None,
    seconds: float | None = None,
    container: str | None = None,
) -> Path:
    """A small video (moving gray frames) with the speech of ``source_audio`` as its sound."""
    samples = decode(source_audio) if source_audio is not None else None
    if seconds is None:
        seconds = len(samples) / 16000 if samples is not None else 2.0
    fps = 10
    with av.open(str(path), mode="w", format=container) as out:
        vstream = out.add_stream(video_codec, rate=fps)
        vstream.width, vstream.height = 64, 48
        vstream.pix_fmt = "yuv420p"
        astream = None
        if audio_codec is not None and samples is not None:
            astream = out.add_stream(audio_codec, rate=48000, layout="stereo")
            astream.format = astream.codec_context.codec.audio_formats[0].name
        for i in range(int(seconds * fps)):
            img = np.full((48, 64, 3), (i * 7) % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for packet in vstream.encode(frame):
                out.mux(packet)
        for packet in vstream.encode(None):
            out.mux(packet)
        if astream is not None:
            pcm = resample_for_test(samples, 48000)
            size = astream.codec_context.frame_size or 1024
            for frame in _audio_frames(pcm, 48000, "stereo", astream.format.name, size):
                for packet in astream.encode(frame):
                    out.mux(packet)
            for packet in astream.encode(None):
                out.mux(packet)
    return path
