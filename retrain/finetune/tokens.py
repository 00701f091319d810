"""Whisper's token sequences for training and decoding, from the bundle's tokenizer.json.

For English-only Whisper (tiny.en) the decoder prefix is ``<|startoftranscript|>
<|notimestamps|>``: no language or task token. A prompt goes before it, after
``<|startofprev|>``, encoded as serving encodes it (faster-whisper's ``hotwords``: a
leading space, at most ``MAX_PROMPT_TOKENS`` tokens, the first ones kept). A training
sequence is ``[<|startofprev|> prompt] <|startoftranscript|> <|notimestamps|> text
<|endoftext|>``; the loss covers the text and ``<|endoftext|>`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

from engine.backends.base import MAX_PROMPT_TOKENS


@dataclass(frozen=True, slots=True)
class SpecialTokens:
    end_of_text: int
    start_of_transcript: int
    start_of_prev: int
    no_timestamps: int
    timestamp_begin: int


@dataclass(frozen=True, slots=True)
class TokenSequence:
    """Decoder tokens; ``targets_from`` is the first position whose *next* token is learned."""

    tokens: tuple[int, ...]
    targets_from: int

    def __len__(self) -> int:
        return len(self.tokens)


class TextCodec:
    """Text <-> token ids with the bundle's byte-level BPE (the same file serving uses)."""

    def __init__(self, tokenizer_json: str | Path) -> None:
        self._tokenizer = Tokenizer.from_file(str(tokenizer_json))

        def special(text: str) -> int:
            token = self._tokenizer.token_to_id(text)
            if token is None:
                raise ValueError(f"{tokenizer_json} has no {text} token")
            return token

        no_timestamps = special("<|notimestamps|>")
        self.special = SpecialTokens(
            end_of_text=special("<|endoftext|>"),
            start_of_transcript=special("<|startoftranscript|>"),
            start_of_prev=special("<|startofprev|>"),
            no_timestamps=no_timestamps,
            timestamp_begin=no_timestamps + 1,
        )

    def encode(self, text: str) -> list[int]:
        """Tokens of ``text`` as Whisper writes it: with one leading space, no specials."""
        return self._tokenizer.encode(" " + text.strip(), add_special_tokens=False).ids

    def decode(self, tokens: list[int] | tuple[int, ...]) -> str:
        ordinary = [t for t in tokens if t < self.special.end_of_text]
        return self._tokenizer.decode(ordinary).strip()

    def prompt_tokens(self, prompt: str | None) -> list[int]:
        if not prompt or not prompt.strip():
            return []
        return self.encode(prompt)[:MAX_PROMPT_TOKENS]

    def prefix(self, prompt: str | None = None) -> list[int]:
        """What the decoder is given before the transcript: prompt, then the start tokens."""
        s = self.special
        prompt_ids = self.prompt_tokens(prompt)
        head = [s.start_of_prev, *prompt_ids] if prompt_ids else []
        return [*head, s.start_of_transcript, s.no_timestamps]

    def training_sequence(self, text: str, prompt: str | None = None) -> TokenSequence:
        prefix = self.prefix(prompt)
        tokens = [*prefix, *self.encode(text), self.special.end_of_text]
        return TokenSequence(tuple(tokens), len(prefix) - 1)
