"""Decoding media into what Whisper hears: 16 kHz mono float32 PCM.

PyAV (ffmpeg) demuxes and decodes whatever ffmpeg can read — WAV, FLAC, MP3,
Ogg/Opus, M4A/AAC and the audio track of MP4/MKV/WebM video — and
libswresample (``av.AudioResampler``) downmixes and resamples.

Decoding streams: ``iter_pcm`` yields fixed-size blocks and never holds the
whole file, so a three-hour recording costs a few blocks of memory.

Every problem with the input raises ``AudioDecodeError`` with one sentence for
the user: missing file, folder, empty file, text or other non-media file,
corrupt or truncated audio, video without sound, unsupported codec.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator
from pathlib import Path

import av
import av.error
import numpy as np

from engine.errors import AudioDecodeError
from engine.fsutil import atomic_path
from engine.types import MediaInfo

SAMPLE_RATE = 16_000

# A file is called truncated when its end cannot be decoded: the check seeks to
# this many seconds before the duration its header declares.
_END_PROBE_SECONDS = 1.5
# Containers whose duration ffmpeg estimates from the bit rate: a shorter decode
# than declared proves nothing there.
_ESTIMATED_DURATION_FORMATS = frozenset({"mp3", "aac", "ac3", "eac3", "mpeg", "mpegts", "loas"})
# Decoding less than this fraction of a declared (exact) duration means damage.
_MIN_DECODED_FRACTION = 0.9
# Bad packets tolerated while decoding before the file is called corrupt.
_MAX_BAD_PACKETS = 8
_MAX_BAD_FRACTION = 0.02

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- checks


def _check_path(path: str | Path) -> Path:
    p = Path(path)
    name = p.name or str(p)
    try:
        if not p.exists():
            raise AudioDecodeError(f"{name}: the file does not exist; check the path.")
        if p.is_dir():
            raise AudioDecodeError(
                f"{name} is a folder, not a media file; give the path of an audio or video file."
            )
        size = p.stat().st_size
    except PermissionError as exc:
        raise AudioDecodeError(
            f"{name} cannot be read (permission denied); check the file's permissions."
        ) from exc
    if size == 0:
        raise AudioDecodeError(
            f"{name} is empty (0 bytes); choose a recording that contains audio."
        )
    try:
        with p.open("rb") as handle:
            head = handle.read(512)
    except PermissionError as exc:
        raise AudioDecodeError(
            f"{name} cannot be read (permission denied); check the file's permissions."
        ) from exc
    except OSError as exc:
        raise AudioDecodeError(f"{name} cannot be read ({exc.strerror}); check the file.") from exc
    if _looks_like_text(head):
        raise AudioDecodeError(
            f"{name} is a text file, not audio or video; choose a recording (e.g. WAV, MP3, M4A)."
        )
    return p


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in decoded)
    return printable / len(decoded) > 0.97


def _unreadable(name: str) -> AudioDecodeError:
    return AudioDecodeError(
        f"{name} is not a media file Tiro can read (it may be corrupt or in an unsupported "
        "format); convert it to WAV, FLAC or MP3 and try again."
    )


def _corrupt(name: str) -> AudioDecodeError:
    return AudioDecodeError(
        f"{name}: the audio is corrupt and cannot be decoded; try another copy of the recording."
    )


def _damaged(name: str) -> AudioDecodeError:
    return AudioDecodeError(
        f"{name} is damaged: its audio cannot be decoded to the end (the file is truncated "
        "or corrupt); try a complete copy of the recording."
    )


def _open(p: Path):
    """Open the container and return (container, audio stream)."""
    try:
        container = av.open(str(p), mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM):
            raise AudioDecodeError(
                f"{p.name} cannot be read (permission denied); check the file's permissions."
            ) from exc
        raise _unreadable(p.name) from exc
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise _unreadable(p.name) from exc
    if not container.streams.audio:
        has_video = bool(container.streams.video)
        container.close()
        if has_video:
            raise AudioDecodeError(
                f"{p.name} is a video without an audio track; there is nothing to transcribe."
            )
        raise AudioDecodeError(
            f"{p.name} contains no audio stream; there is nothing to transcribe."
        )
    stream = container.streams.audio[0]
    if stream.codec_context is None or not stream.codec_context.name:
        container.close()
        raise AudioDecodeError(
            f"{p.name} uses an audio codec Tiro cannot decode; convert it to WAV, FLAC or MP3."
        )
    stream.thread_type = "AUTO"
    return container, stream


def _declared_duration(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


# ----------------------------------------------------------------------------- decoding


class _Decoder:
    """Decoded, resampled frames of one file, with bad packets counted."""

    def __init__(self, p: Path):
        self.path = p
        self.container, self.stream = _open(p)
        self.packets = 0
        self.bad_packets = 0

    def close(self) -> None:
        self.container.close()

    def frames(self) -> Iterator[av.AudioFrame]:
        """Decoded frames (native format), skipping a few bad packets."""
        try:
            for packet in self.container.demux(self.stream):
                self.packets += 1
                try:
                    yield from packet.decode()
                except (av.error.InvalidDataError, av.error.PatchWelcomeError) as exc:
                    self.bad_packets += 1
                    log.debug("bad packet in %s: %s", self.path, exc)
                    if self.bad_packets > _MAX_BAD_PACKETS and (
                        self.bad_packets > _MAX_BAD_FRACTION * self.packets
                    ):
                        raise _corrupt(self.path.name) from exc
        except av.error.FFmpegError as exc:
            raise _corrupt(self.path.name) from exc

    def pcm_chunks(self) -> Iterator[np.ndarray]:
        """16 kHz mono float32 chunks of whatever size the resampler produces."""
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        for frame in self.frames():
            frame.pts = None  # the resampler must not try to fill timestamp gaps
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1)


def probe(path: str | Path) -> MediaInfo:
    """What the file holds, after checking that its start and its end decode.

    Raises ``AudioDecodeError`` for every kind of bad input.
    """
    p = _check_path(path)
    decoder = _Decoder(p)
    try:
        container, stream = decoder.container, decoder.stream
        duration = _declared_duration(container, stream)
        info = MediaInfo(
            path=str(p),
            duration=duration,
            container=container.format.name,
            codec=stream.codec_context.name,
            sample_rate=int(stream.rate or stream.codec_context.sample_rate or 0),
            channels=int(stream.channels or 0),
        )
        first = next(iter(decoder.frames()), None)
        if first is None:
            raise AudioDecodeError(
                f"{p.name} contains no decodable audio; it may be corrupt or truncated."
            )
    finally:
        decoder.close()
    if _wav_data_missing(p):
        raise _damaged(p.name)
    exact = info.container not in _ESTIMATED_DURATION_FORMATS
    if exact and duration > 2 * _END_PROBE_SECONDS and not _end_decodes(p, duration):
        raise _damaged(p.name)
    if duration <= 0:
        info = _with_measured_duration(info, p)
    return info


def _wav_data_missing(p: Path) -> bool:
    """Whether a RIFF/WAVE file declares more sample data than the file holds."""
    with p.open("rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return False
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                return False
            size = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"data":
                if size in (0, 0xFFFFFFFF):  # written while streaming: size unknown
                    return False
                available = p.stat().st_size - handle.tell()
                return available < size * _MIN_DECODED_FRACTION
            handle.seek(size + (size & 1), 1)


def _end_decodes(p: Path, duration: float) -> bool:
    """Whether audio near the declared end of the file decodes."""
    decoder = _Decoder(p)
    try:
        stream = decoder.stream
        target = duration - _END_PROBE_SECONDS
        try:
            decoder.container.seek(int(target / stream.time_base), stream=stream, backward=True)
        except av.error.FFmpegError:
            return False
        try:
            for frame in decoder.frames():
                if frame.pts is None or frame.time is None:
                    return True
                end = frame.time + frame.samples / frame.sample_rate
                if end >= target:
                    return True
        except AudioDecodeError:
            return False
        return False
    finally:
        decoder.close()


def _with_measured_duration(info: MediaInfo, p: Path) -> MediaInfo:
    samples = sum(len(chunk) for chunk in _Decoder(p).pcm_chunks())
    return MediaInfo(
        path=info.path,
        duration=samples / SAMPLE_RATE,
        container=info.container,
        codec=info.codec,
        sample_rate=info.sample_rate,
        channels=info.channels,
    )


def iter_pcm(path: str | Path, block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """16 kHz mono float32 PCM in blocks of ``block_seconds`` (the last one shorter).

    Streams: at most about one block (plus one decoded frame) is held at a time.
    """
    if block_seconds <= 0:
        raise ValueError("block_seconds must be positive")
    p = _check_path(path)
    if _wav_data_missing(p):
        raise _damaged(p.name)
    block = max(1, round(block_seconds * SAMPLE_RATE))
    decoder = _Decoder(p)
    try:
        pending: list[np.ndarray] = []
        held = 0
        produced = 0
        for chunk in decoder.pcm_chunks():
            pending.append(chunk)
            held += len(chunk)
            while held >= block:
                joined = np.concatenate(pending)
                yield np.ascontiguousarray(joined[:block])
                produced += block
                rest = joined[block:]
                pending = [rest] if len(rest) else []
                held = len(rest)
        if held:
            produced += held
            yield np.ascontiguousarray(np.concatenate(pending))
        if produced == 0:
            raise AudioDecodeError(
                f"{p.name} contains no decodable audio; it may be corrupt or truncated."
            )
        declared = _declared_duration(decoder.container, decoder.stream)
        exact = decoder.container.format.name not in _ESTIMATED_DURATION_FORMATS
        if exact and produced / SAMPLE_RATE < declared * _MIN_DECODED_FRACTION - 0.5:
            raise _damaged(p.name)
    finally:
        decoder.close()


#: What ``loudness_dbfs`` reports for digital silence (all samples zero).
SILENCE_DBFS = -120.0


def loudness_dbfs(path: str | Path) -> float:
    """The file's mean loudness: RMS of the 16 kHz mono signal the model hears, in dBFS.

    Streams the file (bounded memory). Digital silence gives ``SILENCE_DBFS``. Raises
    ``AudioDecodeError`` like ``iter_pcm``. The monitor compares it across recordings to
    see the input drift (quieter microphones, a new room).
    """
    squares = 0.0
    samples = 0
    for block in iter_pcm(path):
        wide = block.astype(np.float64)
        squares += float(wide @ wide)
        samples += len(block)
    mean = squares / samples
    if mean <= 10 ** (SILENCE_DBFS / 10):
        return SILENCE_DBFS
    return float(10 * np.log10(mean))


def decode(path: str | Path) -> np.ndarray:
    """The whole file as one 16 kHz mono float32 array (for short files and tests)."""
    blocks = list(iter_pcm(path, block_seconds=60.0))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)


def decode_span(path: str | Path, start: float, end: float) -> np.ndarray:
    """16 kHz mono float32 PCM of ``[start, end)`` seconds, found by seeking.

    Used for learning snippets and re-transcribing one segment; it does not
    decode the file from the beginning.
    """
    if end <= start or start < 0:
        raise ValueError(f"bad span {start}..{end}")
    p = _check_path(path)
    decoder = _Decoder(p)
    try:
        stream = decoder.stream
        if start > 0:
            try:
                decoder.container.seek(
                    max(0, int((start - 0.5) / stream.time_base)), stream=stream, backward=True
                )
            except av.error.FFmpegError as exc:
                raise _corrupt(p.name) from exc
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        pieces: list[np.ndarray] = []
        cursor: float | None = None  # time (s) of the next resampled sample
        want = round((end - start) * SAMPLE_RATE)
        got = 0
        for frame in decoder.frames():
            if cursor is None:
                cursor = float(frame.time) if frame.time is not None else 0.0
            frame.pts = None
            for out in resampler.resample(frame):
                data = out.to_ndarray().reshape(-1)
                skip = max(0, round((start - cursor) * SAMPLE_RATE))
                cursor += len(data) / SAMPLE_RATE
                if skip >= len(data):
                    continue
                pieces.append(data[skip:])
                got += len(data) - skip
            if got >= want:
                break
        else:
            for out in resampler.resample(None):
                data = out.to_ndarray().reshape(-1)
                skip = max(0, round((start - (cursor or 0.0)) * SAMPLE_RATE))
                cursor = (cursor or 0.0) + len(data) / SAMPLE_RATE
                if skip < len(data):
                    pieces.append(data[skip:])
        pcm = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        return np.ascontiguousarray(pcm[:want], dtype=np.float32)
    finally:
        decoder.close()


# ----------------------------------------------------------------------------- encoding


def encode_flac(samples: np.ndarray, path: str | Path) -> Path:
    """Write 16 kHz mono float32 samples as a 16-bit FLAC file, atomically."""
    target = Path(path)
    pcm = np.asarray(samples, dtype=np.float32).reshape(-1)
    as_int16 = (np.clip(pcm, -1.0, 1.0) * 32767.0).round().astype(np.int16)
    with atomic_path(target) as tmp, av.open(str(tmp), mode="w", format="flac") as out:
        stream = out.add_stream("flac", rate=SAMPLE_RATE, layout="mono")
        stream.format = "s16"
        step = SAMPLE_RATE * 10
        for offset in range(0, max(len(as_int16), 1), step):
            piece = as_int16[offset : offset + step]
            if not len(piece):
                break
            frame = av.AudioFrame.from_ndarray(piece.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = offset
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return target
