"""Does biasing the decoder towards lexicon terms beat putting them in the prompt?

    python tests/benchmarks/decoder_biasing.py --corpus PATH --ggml MODEL.bin
        [--boosts 1,2,4] [--json OUT]

Research benchmark for issue 5. The lexicon is learned from the corpus's ``train`` split
exactly as the pipeline does (``retrain.pipeline.personalize.train_tier_one``); it is then
applied to ``heldout`` and ``heldout_control`` through whisper.cpp (greedy, 2 threads)

- as an initial prompt (the pipeline's way),
- as *decoder biasing*: a logits filter that adds ``boost`` to the logit of the next token
  of any lexicon term whose first tokens the decoder has just written (a prefix trie over
  the terms' token sequences), and ``boost / 2`` to every term's first token,
- both together,

each with and without the learned correction rules, and prints WER and term recall.

Why ctypes: pywhispercpp's ``assign_logits_filter_callback`` hands the Python callback the
*value* of the first logit (a float), not the array, and drops the token history, so it
cannot bias anything (checked with pywhispercpp 1.5.1). This script calls the
``whisper_full`` C API of the libwhisper that pywhispercpp ships, with a ``ctypes``
mirror of ``whisper_full_params`` for whisper.cpp 1.8.x (checked against the library's own
defaults at start-up).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from engine.corpus import read_manifest  # noqa: E402
from engine.scoring import corpus_error_counts, term_recall  # noqa: E402
from retrain.learn.rules import apply_rules  # noqa: E402
from retrain.pipeline.decode import CachedDecoder, EngineDecoder, clip_for  # noqa: E402
from retrain.pipeline.personalize import Example, factory_pairs, train_tier_one  # noqa: E402

c_bool, c_int, c_float, c_void_p, c_char_p = (
    ctypes.c_bool,
    ctypes.c_int,
    ctypes.c_float,
    ctypes.c_void_p,
    ctypes.c_char_p,
)
LOGITS_FILTER = ctypes.CFUNCTYPE(
    None, c_void_p, c_void_p, c_void_p, c_int, ctypes.POINTER(c_float), c_void_p
)


class VadParams(ctypes.Structure):
    _fields_ = [
        ("threshold", c_float),
        ("min_speech_duration_ms", c_int),
        ("min_silence_duration_ms", c_int),
        ("max_speech_duration_s", c_float),
        ("speech_pad_ms", c_int),
        ("samples_overlap", c_float),
    ]


class FullParams(ctypes.Structure):
    """``struct whisper_full_params`` of whisper.cpp 1.8.x."""

    _fields_ = [
        ("strategy", c_int),
        ("n_threads", c_int),
        ("n_max_text_ctx", c_int),
        ("offset_ms", c_int),
        ("duration_ms", c_int),
        ("translate", c_bool),
        ("no_context", c_bool),
        ("no_timestamps", c_bool),
        ("single_segment", c_bool),
        ("print_special", c_bool),
        ("print_progress", c_bool),
        ("print_realtime", c_bool),
        ("print_timestamps", c_bool),
        ("token_timestamps", c_bool),
        ("thold_pt", c_float),
        ("thold_ptsum", c_float),
        ("max_len", c_int),
        ("split_on_word", c_bool),
        ("max_tokens", c_int),
        ("debug_mode", c_bool),
        ("audio_ctx", c_int),
        ("tdrz_enable", c_bool),
        ("suppress_regex", c_char_p),
        ("initial_prompt", c_char_p),
        ("carry_initial_prompt", c_bool),
        ("prompt_tokens", c_void_p),
        ("prompt_n_tokens", c_int),
        ("language", c_char_p),
        ("detect_language", c_bool),
        ("suppress_blank", c_bool),
        ("suppress_nst", c_bool),
        ("temperature", c_float),
        ("max_initial_ts", c_float),
        ("length_penalty", c_float),
        ("temperature_inc", c_float),
        ("entropy_thold", c_float),
        ("logprob_thold", c_float),
        ("no_speech_thold", c_float),
        ("greedy_best_of", c_int),
        ("beam_size", c_int),
        ("beam_patience", c_float),
        ("new_segment_callback", c_void_p),
        ("new_segment_callback_user_data", c_void_p),
        ("progress_callback", c_void_p),
        ("progress_callback_user_data", c_void_p),
        ("encoder_begin_callback", c_void_p),
        ("encoder_begin_callback_user_data", c_void_p),
        ("abort_callback", c_void_p),
        ("abort_callback_user_data", c_void_p),
        ("logits_filter_callback", LOGITS_FILTER),
        ("logits_filter_callback_user_data", c_void_p),
        ("grammar_rules", c_void_p),
        ("n_grammar_rules", ctypes.c_size_t),
        ("i_start_rule", ctypes.c_size_t),
        ("grammar_penalty", c_float),
        ("vad", c_bool),
        ("vad_model_path", c_char_p),
        ("vad_params", VadParams),
    ]


class ContextParamsBlob(ctypes.Structure):
    _fields_ = [("raw", ctypes.c_ubyte * 64)]


TOKEN_DATA_SIZE = 56  # whisper_token_data: 6 x 4-byte fields, 3 x int64, float vlen, padding


class WhisperCpp:
    def __init__(self, model: Path, threads: int = 2) -> None:
        import pywhispercpp

        lib_dir = Path(pywhispercpp.__file__).resolve().parent.parent
        lib = next(lib_dir.glob("libwhisper.so*"), None) or next(
            (lib_dir / "pywhispercpp.libs").glob("libwhisper*")
        )
        self.lib = ctypes.CDLL(str(lib))
        self.lib.whisper_context_default_params_by_ref.restype = c_void_p
        self.lib.whisper_full_default_params_by_ref.restype = ctypes.POINTER(FullParams)
        self.lib.whisper_full_default_params_by_ref.argtypes = [c_int]
        cparams = self.lib.whisper_context_default_params_by_ref()
        # Larger than 16 bytes, so the x86-64 ABI passes it in memory: a byte blob of at
        # least its size, copied from the library's own defaults, is passed the same way.
        blob = ContextParamsBlob.from_buffer_copy((ctypes.c_ubyte * 64).from_address(cparams))
        init = self.lib.whisper_init_from_file_with_params
        init.restype = c_void_p
        init.argtypes = [c_char_p, ContextParamsBlob]
        self.ctx = init(str(model).encode(), blob)
        if not self.ctx:
            raise RuntimeError(f"whisper.cpp could not load {model}")
        defaults = self.lib.whisper_full_default_params_by_ref(0).contents
        checks = (
            round(defaults.temperature_inc, 3) == 0.2,
            round(defaults.entropy_thold, 3) == 2.4,
            round(defaults.logprob_thold, 3) == -1.0,
            round(defaults.no_speech_thold, 3) == 0.6,
            defaults.greedy_best_of == 5,
            round(defaults.vad_params.threshold, 3) == 0.5,
        )
        if not all(checks):
            raise RuntimeError(
                f"whisper_full_params layout does not match this libwhisper: {checks}"
            )
        self.params = FullParams.from_buffer_copy(defaults)
        self.params.n_threads = threads
        self.params.language = b"en"
        self.params.print_progress = False
        self.params.print_realtime = False
        self.params.print_timestamps = False
        self.lib.whisper_full.argtypes = [c_void_p, FullParams, ctypes.POINTER(c_float), c_int]
        self.lib.whisper_full.restype = c_int
        self.lib.whisper_full_n_segments.argtypes = [c_void_p]
        self.lib.whisper_full_get_segment_text.argtypes = [c_void_p, c_int]
        self.lib.whisper_full_get_segment_text.restype = c_char_p
        self.lib.whisper_tokenize.argtypes = [c_void_p, c_char_p, ctypes.POINTER(c_int), c_int]
        self.lib.whisper_n_vocab.argtypes = [c_void_p]
        self.n_vocab = self.lib.whisper_n_vocab(self.ctx)

    def tokenize(self, text: str) -> list[int]:
        buf = (c_int * 256)()
        n = self.lib.whisper_tokenize(self.ctx, text.encode(), buf, 256)
        return list(buf[: max(n, 0)])

    def transcribe(self, audio: np.ndarray, prompt: str | None, bias: TermBias | None) -> str:
        params = FullParams.from_buffer_copy(self.params)
        params.initial_prompt = prompt.encode() if prompt else None
        callback = LOGITS_FILTER(bias.callback(self.n_vocab)) if bias else LOGITS_FILTER()
        params.logits_filter_callback = callback
        samples = np.ascontiguousarray(audio, dtype=np.float32)
        ptr = samples.ctypes.data_as(ctypes.POINTER(c_float))
        if self.lib.whisper_full(self.ctx, params, ptr, len(samples)) != 0:
            raise RuntimeError("whisper_full failed")
        n = self.lib.whisper_full_n_segments(self.ctx)
        return " ".join(
            self.lib.whisper_full_get_segment_text(self.ctx, i).decode("utf-8", "replace").strip()
            for i in range(n)
        ).strip()


class TermBias:
    """Prefix-trie biasing: continue a lexicon term once its first tokens were written."""

    def __init__(self, sequences: list[list[int]], boost: float) -> None:
        self.sequences = [s for s in sequences if s]
        self.boost = boost
        self.first = sorted({s[0] for s in self.sequences})

    def callback(self, n_vocab: int):
        def on_logits(_ctx, _state, tokens, n_tokens, logits, _user):
            view = np.ctypeslib.as_array(logits, shape=(n_vocab,))
            history = []
            if n_tokens:
                raw = ctypes.string_at(tokens, n_tokens * TOKEN_DATA_SIZE)
                ids = np.frombuffer(raw, dtype=np.int32).reshape(n_tokens, TOKEN_DATA_SIZE // 4)
                history = ids[-8:, 0].tolist()
            view[self.first] += self.boost / 2
            for seq in self.sequences:
                for m in range(min(len(seq) - 1, len(history)), 0, -1):
                    if history[-m:] == seq[:m]:
                        view[seq[m]] += self.boost
                        break

        return on_logits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", required=True, type=Path)
    parser.add_argument("--ggml", required=True, type=Path)
    parser.add_argument("--boosts", default="1,2,4")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/tiro-decodes"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    items = read_manifest(args.corpus)
    train_items = [i for i in items if i.split == "train"]
    decoder = CachedDecoder(EngineDecoder(), args.cache)
    train = [Example(i.path.name, i.path.name, clip_for(i.path), i.text) for i in train_items]
    model = train_tier_one(train, decoder, factory=factory_pairs(train, decoder))
    whisper = WhisperCpp(args.ggml)
    sequences = []
    for term in model.lexicon:
        for form in {term.text, term.text.lower(), term.text.capitalize()}:
            sequences.append(whisper.tokenize(" " + form))
    print(
        f"lexicon: {len(model.lexicon)} terms, {len(model.rules)} rules; prompt "
        f"{decoder.count_prompt_tokens(model.prompt)} tokens"
    )

    splits = {s: [i for i in items if i.split == s] for s in ("heldout", "heldout_control")}
    from engine import audio as engine_audio

    audio = {i.path: engine_audio.decode(i.path) for s in splits.values() for i in s}
    setups: list[tuple[str, str | None, TermBias | None]] = [
        ("whisper.cpp, no prompt", None, None),
        ("whisper.cpp, lexicon prompt", model.prompt, None),
    ]
    for boost in [float(b) for b in args.boosts.split(",")]:
        setups.append((f"whisper.cpp, biasing {boost:g}", None, TermBias(sequences, boost)))
        setups.append(
            (f"whisper.cpp, prompt + biasing {boost:g}", model.prompt, TermBias(sequences, boost))
        )
    results = {}
    print("| setup | rules | held-out WER | held-out term recall | control WER | seconds |")
    print("|---|---|---|---|---|---|")
    for name, prompt, bias in setups:
        started = time.perf_counter()
        raw = {
            s: [whisper.transcribe(audio[i.path], prompt, bias) for i in its]
            for s, its in splits.items()
        }
        seconds = time.perf_counter() - started
        for with_rules in (False, True):
            row = {}
            for s, its in splits.items():
                hyps = [apply_rules(h, model.rules)[0] if with_rules else h for h in raw[s]]
                counts = corpus_error_counts([i.text for i in its], hyps)
                row[s] = {"wer": counts.wer}
                if any(i.terms for i in its):
                    row[s]["term_recall"] = term_recall(
                        [(i.terms, h) for i, h in zip(its, hyps, strict=True)]
                    )
            key = f"{name}{' + rules' if with_rules else ''}"
            results[key] = {**row, "seconds": seconds}
            print(
                f"| {name} | {'yes' if with_rules else 'no'} | {100 * row['heldout']['wer']:.1f}% "
                f"| {row['heldout'].get('term_recall', 0):.2f} "
                f"| {100 * row['heldout_control']['wer']:.1f}% | {seconds:.1f} |",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
