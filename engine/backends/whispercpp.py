"""whisper.cpp backend: pywhispercpp's low-level ``_pywhispercpp`` API on a bundle's ggml file.

What it reports, per segment:

- words: whisper.cpp's DTW token timestamps (cross-attention alignment with the
  tiny.en alignment-heads preset, as openai-whisper and faster-whisper do).
  A token's DTW time marks where the token ends; a word ends where its last token
  ends and starts where the previous word ended (the first word: at the
  segment's start). Word probability is the mean of its tokens' probabilities.
- avg_logprob: the mean log-probability of the segment's text tokens (per
  segment; faster-whisper reports the window's value).
- no_speech_prob: whisper.cpp's own no-speech probability of the 30-second
  window the segment came from (read through ``_whisper_native``), or ``nan``
  when that native call is unavailable on a platform.
- compression_ratio: gzip ratio of the segment text.

Input: the log-mel features come from ``engine.features.log_mel`` — the very
features the CTranslate2 backend decodes — and are handed to whisper.cpp with
``whisper_set_mel`` (``whisper_full`` with no samples then decodes them), so both
backends see identical input. (whisper.cpp's own mel differs slightly: it pads 30 s
of zeros before the log-mel and uses its own FFT; with it, 3 of the 10 general
clips came out differently from CTranslate2.)

Streaming: ``whisper_full`` runs in a worker thread; segments are collected at
each window boundary (the encoder-begin callback) and after the call, and
yielded as they arrive. (The new-segment callback cannot be used: with DTW
timestamps whisper.cpp 1.8.5 calls it with wrong arguments.)

Thread-safety: a whisper.cpp context holds one decoding state, so jobs on one
loaded model run one at a time (a lock); a second job waits.

Cancel: whisper.cpp's abort callback is polled after every encoder and decoder
pass (milliseconds apart), and the encoder-begin callback refuses to start a
new window; either way ``whisper_full`` returns within a fraction of a second.

The logits-filter callback of pywhispercpp 1.5.1 passes only the first logit
as a Python float (its binding converts ``float *`` to ``float``), so it cannot
bias decoding; lexicon biasing goes through the prompt.
"""

from __future__ import annotations

import atexit
import logging
import math
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from engine.backends._whisper_native import NativeContext
from engine.backends.base import (
    DecodeSettings,
    ProgressFn,
    check_cancel,
    clamp_words,
    compression_ratio,
    word_probability,
)
from engine.bundle import ModelBundle
from engine.errors import ModelCorruptError, ModelMissingError, TranscriptionCancelled
from engine.features import log_mel
from engine.types import Segment, Word

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
GGML_MAGIC = 0x67676D6C
_log_sink_installed = False


def _install_log_sink() -> None:
    """Send whisper.cpp's log lines to Python logging instead of the terminal."""
    global _log_sink_installed
    if _log_sink_installed:
        return
    import _pywhispercpp as pw

    native_log = logging.getLogger("whisper.cpp")

    def sink(level: int, text: str) -> None:
        native_log.debug("%s", text.rstrip())

    pw.whisper_log_set(sink)
    # At interpreter exit Python can no longer run the sink; give whisper.cpp its own back.
    atexit.register(pw.whisper_log_set, None)
    _log_sink_installed = True


def _check_ggml_file(path: Path, version: str) -> None:
    if not path.is_file():
        raise ModelMissingError(
            f"the whisper.cpp weights of model {version} are missing ({path}); "
            "reinstall Tiro or delete the model folder so it is prepared again."
        )
    with path.open("rb") as handle:
        head = handle.read(4)
    if len(head) < 4 or int.from_bytes(head, "little") != GGML_MAGIC:
        raise ModelCorruptError(
            f"the whisper.cpp weights of model {version} are not a ggml file ({path}); "
            "delete the model folder so it is prepared again."
        )


class WhisperCppBackend:
    name = "whispercpp"

    def __init__(self, variant: str = "f16") -> None:
        self.variant = variant  # ggml weight type: "f16" or "q8_0"
        self._ctx: Any = None
        self._native: NativeContext | None = None
        self._lock = threading.Lock()
        self._sha256 = ""
        self._threads = 2

    @property
    def weights_sha256(self) -> str:
        return self._sha256

    def load(self, bundle: ModelBundle, threads: int) -> None:
        path = bundle.ggml_variant_path(self.variant)
        if path is None:
            raise ModelMissingError(
                f"model {bundle.version} has no whisper.cpp weights ({self.variant}); "
                "use the CTranslate2 backend or reinstall Tiro."
            )
        _check_ggml_file(path, bundle.version)
        import _pywhispercpp as pw

        _install_log_sink()
        cparams = pw.whisper_context_default_params()
        cparams.use_gpu = False
        cparams.flash_attn = False  # DTW timestamps need the attention weights
        cparams.dtw_token_timestamps = True
        cparams.dtw_aheads_preset = pw.WHISPER_AHEADS_TINY_EN
        ctx = pw.whisper_init_from_file_with_params(str(path), cparams)
        native = NativeContext.resolve(ctx)
        try:
            n_vocab = pw.whisper_model_n_vocab(ctx) if native is not None else None
        except Exception as exc:  # pragma: no cover - depends on a broken file
            raise ModelCorruptError(
                f"the whisper.cpp weights of model {bundle.version} do not load; "
                "delete the model folder so it is prepared again."
            ) from exc
        if n_vocab is not None and n_vocab < 51864:
            raise ModelCorruptError(
                f"the whisper.cpp weights of model {bundle.version} are not tiny.en; "
                "delete the model folder so it is prepared again."
            )
        self._ctx = ctx
        self._native = native
        self._threads = max(1, threads)
        relative = path.relative_to(bundle.directory).as_posix() if bundle.directory else ""
        self._sha256 = bundle.files.get(relative, "")

    def close(self) -> None:
        with self._lock:
            if self._ctx is not None:
                import _pywhispercpp as pw

                pw.whisper_free(self._ctx)
                self._ctx = None
                self._native = None

    # ------------------------------------------------------------------ decoding

    def _params(self, settings: DecodeSettings) -> Any:
        import _pywhispercpp as pw

        beam = settings.beam_size > 1
        strategy = (
            pw.whisper_sampling_strategy.WHISPER_SAMPLING_BEAM_SEARCH
            if beam
            else pw.whisper_sampling_strategy.WHISPER_SAMPLING_GREEDY
        )
        params = pw.whisper_full_default_params(strategy)
        params.n_threads = settings.threads or self._threads
        params.language = "en"
        params.translate = False
        params.print_progress = False
        params.print_realtime = False
        params.print_timestamps = False
        params.print_special = False
        params.no_timestamps = False
        params.token_timestamps = False  # words come from DTW instead
        # whisper.cpp keeps the text of its previous call in the context's state and, unless
        # no_context is set, conditions the next call on it: a job would then be decoded
        # differently depending on which recording the loaded model decoded before (measured:
        # punctuation dropped on every later general clip). no_context clears that at the
        # start of each call; windows within the call are still conditioned on each other,
        # as faster-whisper does within one transcribe() call.
        params.no_context = True
        if not settings.condition_on_previous_text and not settings.prompt:
            params.n_max_text_ctx = 0
        params.suppress_blank = True
        params.suppress_nst = True  # as faster-whisper's suppress_tokens=[-1]
        temps = settings.temperatures or (0.0,)
        params.temperature = float(temps[0])
        params.temperature_inc = float(temps[1] - temps[0]) if len(temps) > 1 else 0.0
        if beam:
            params.beam_search = {"beam_size": settings.beam_size, "patience": -1.0}
        if settings.prompt:
            params.initial_prompt = settings.prompt.strip()
            params.carry_initial_prompt = True
        return params

    def transcribe_window(
        self,
        pcm: np.ndarray,
        settings: DecodeSettings,
        *,
        cancel: threading.Event | None = None,
        progress: ProgressFn | None = None,
    ) -> Iterator[Segment]:
        if self._ctx is None:
            raise ModelMissingError("the whisper.cpp model is not loaded.")
        check_cancel(cancel)
        import _pywhispercpp as pw

        duration = len(pcm) / SAMPLE_RATE
        # The same log-mel features as the CTranslate2 backend (engine.features), handed to
        # whisper.cpp directly: both backends decode identical inputs.
        features = log_mel(pcm)
        mel = np.ascontiguousarray(features[:, :-1])
        no_samples = np.zeros(0, dtype=np.float32)
        params = self._params(settings)
        stop = threading.Event()
        out: queue.Queue[Any] = queue.Queue()
        done = object()
        harvested = 0

        def should_stop() -> bool:
            return stop.is_set() or (cancel is not None and cancel.is_set())

        def harvest(ctx: Any) -> None:
            nonlocal harvested
            n = pw.whisper_full_n_segments(ctx)
            for index in range(harvested, n):
                out.put(self._segment(ctx, index, duration))
            harvested = n

        def on_encoder_begin(ctx: Any, *_: Any) -> bool:
            harvest(ctx)
            return not should_stop()

        def on_progress(*args: Any) -> None:
            if progress is not None and args:
                progress(min(1.0, max(0.0, float(args[0]) / 100.0)))

        pw.assign_abort_callback(params, lambda *_: should_stop())
        pw.assign_encoder_begin_callback(params, on_encoder_begin)
        if progress is not None:
            params.print_progress = True  # pywhispercpp calls the callback only then
            pw.assign_progress_callback(params, on_progress)

        def work() -> None:
            try:
                with self._lock:
                    if should_stop():
                        out.put(
                            TranscriptionCancelled("transcription cancelled; nothing was saved.")
                        )
                        return
                    status = pw.whisper_set_mel(self._ctx, mel, mel.shape[1], mel.shape[0])
                    if status == 0:  # no samples: whisper_full decodes the mel set above
                        status = pw.whisper_full(self._ctx, params, no_samples, 0)
                    if should_stop():
                        out.put(
                            TranscriptionCancelled("transcription cancelled; nothing was saved.")
                        )
                        return
                    if status != 0:
                        out.put(
                            ModelCorruptError(f"whisper.cpp failed to decode (status {status}).")
                        )
                        return
                    harvest(self._ctx)
            except BaseException as exc:  # handed to the consuming thread
                out.put(exc)
            finally:
                # Callbacks are cleared here, once whisper.cpp can no longer call them.
                pw.clear_abort_callback(params)
                pw.clear_encoder_begin_callback(params)
                if progress is not None:
                    pw.clear_progress_callback(params)
                out.put(done)

        worker = threading.Thread(target=work, name="whispercpp-decode", daemon=True)
        worker.start()
        try:
            while True:
                try:
                    item = out.get(timeout=0.1)
                except queue.Empty:
                    check_cancel(cancel)
                    continue
                if item is done:
                    break
                if isinstance(item, BaseException):
                    raise item
                check_cancel(cancel)
                yield item
            if progress is not None:
                progress(1.0)
        finally:
            stop.set()
            # whisper.cpp sees the stop at its next abort check; a cancelled job does not wait
            # for the native call to unwind (the model's lock keeps the next job waiting until
            # it has, and nothing of the cancelled job is written anywhere).
            worker.join(timeout=None if cancel is None or not cancel.is_set() else 0.25)

    def _segment(self, ctx: Any, index: int, duration: float) -> Segment:
        import _pywhispercpp as pw

        start = pw.whisper_full_get_segment_t0(ctx, index) / 100.0
        end = pw.whisper_full_get_segment_t1(ctx, index) / 100.0
        end = min(max(end, start), duration) if duration > 0 else max(end, start)
        text = pw.whisper_full_get_segment_text(ctx, index).decode("utf-8", errors="replace")
        eot = pw.whisper_token_eot(ctx)
        pieces: list[tuple[bytes, float, float]] = []  # token bytes, p, dtw end (s)
        logprobs: list[float] = []
        for j in range(pw.whisper_full_n_tokens(ctx, index)):
            data = pw.whisper_full_get_token_data(ctx, index, j)
            if data.id >= eot:
                continue
            logprobs.append(float(data.plog))
            dtw = data.t_dtw / 100.0 if data.t_dtw >= 0 else math.nan
            pieces.append((pw.whisper_token_to_bytes(ctx, data.id), float(data.p), dtw))
        no_speech = math.nan
        if self._native is not None:
            no_speech = self._native.no_speech_prob(index)
        return Segment(
            start=round(start, 3),
            end=round(end, 3),
            text=text.strip(),
            words=_words(pieces, start, end),
            avg_logprob=float(np.mean(logprobs)) if logprobs else 0.0,
            no_speech_prob=no_speech,
            compression_ratio=compression_ratio(text.strip()),
        )


def _words(pieces: list[tuple[bytes, float, float]], start: float, end: float) -> tuple[Word, ...]:
    """Group BPE tokens into words (a token starting with a space opens a word)."""
    groups: list[tuple[bytearray, list[float], float]] = []
    for raw, prob, dtw in pieces:
        if not groups or raw.startswith(b" "):
            groups.append((bytearray(raw), [prob], dtw))
        else:
            text, probs, last = groups[-1]
            text.extend(raw)
            probs.append(prob)
            # punctuation carries the same DTW time as the word it ends
            groups[-1] = (text, probs, dtw if not math.isnan(dtw) else last)
    words: list[Word] = []
    cursor = start
    for i, (raw, probs, dtw) in enumerate(groups):
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            continue
        w_end = end if i == len(groups) - 1 or math.isnan(dtw) else dtw
        w_end = min(max(w_end, cursor), end)
        words.append(Word(text, cursor, w_end, word_probability(probs)))
        cursor = w_end
    return clamp_words(words, start, end)
