"""The bundled Whisper weights as a transformers model, and back (imports torch).

``load_whisper(ct2_dir)`` reads a CTranslate2 model directory (``model.bin``,
``config.json``, ``tokenizer.json``) through the engine's weight conversion
(``engine.weights``: CTranslate2 -> Whisper names, fused projections split ->
transformers names) into ``WhisperForConditionalGeneration``, float32, with the
output projection tied to the token embedding. The config comes from the weights'
dimensions and the CTranslate2 ``config.json``; the tokenizer is the bundle's
``tokenizer.json``. Nothing is looked up on the Hugging Face hub.

``whisper_weights(loaded)`` is the way back: the current parameters under Whisper's
names, ready for ``engine.weights.whisper_to_ct2`` and the ggml writer.

``greedy_decode`` decodes one window the way CTranslate2's greedy search does with a
``<|notimestamps|>`` prefix (the suppressed tokens of ``config.json``, blank
suppression at the first step, at most half the text context): the test that the
loaded model reproduces serving uses it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.weights import (
    CT2Model,
    WhisperDims,
    ct2_to_whisper,
    hf_to_whisper,
    read_model_bin,
    whisper_to_hf,
)
from engine.weights.names import HF_TIED_PROJECTION
from retrain.finetune.availability import prepare_process, require_finetune
from retrain.finetune.tokens import TextCodec

require_finetune()
prepare_process()

import torch  # noqa: E402
from transformers import WhisperConfig, WhisperForConditionalGeneration  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.set_verbosity_error()


@dataclass
class LoadedWhisper:
    """A transformers Whisper model built from a CTranslate2 directory, and what made it."""

    model: WhisperForConditionalGeneration
    dims: WhisperDims
    template: CT2Model  # the source model.bin: its structure is reused on the way back
    ct2_dir: Path
    codec: TextCodec
    suppress_tokens: tuple[int, ...]
    suppress_at_begin: tuple[int, ...]


def hf_config(dims: WhisperDims, ffn_dim: int, ct2_config: dict, codec: TextCodec) -> WhisperConfig:
    """A ``WhisperConfig`` for weights of ``dims`` (no dropout: the weights decide)."""
    s = codec.special
    return WhisperConfig(
        vocab_size=dims.n_vocab,
        num_mel_bins=dims.n_mels,
        encoder_layers=dims.n_audio_layer,
        encoder_attention_heads=dims.n_audio_head,
        decoder_layers=dims.n_text_layer,
        decoder_attention_heads=dims.n_text_head,
        d_model=dims.n_text_state,
        encoder_ffn_dim=ffn_dim,
        decoder_ffn_dim=ffn_dim,
        max_source_positions=dims.n_audio_ctx,
        max_target_positions=dims.n_text_ctx,
        decoder_start_token_id=s.start_of_transcript,
        bos_token_id=s.end_of_text,
        eos_token_id=s.end_of_text,
        pad_token_id=s.end_of_text,
        suppress_tokens=list(ct2_config.get("suppress_ids", [])),
        begin_suppress_tokens=list(ct2_config.get("suppress_ids_begin", [])),
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        apply_spec_augment=False,
        tie_word_embeddings=True,
        use_cache=True,
    )


def load_whisper(ct2_dir: str | Path) -> LoadedWhisper:
    """Build the float32 transformers model from a CTranslate2 Whisper directory."""
    directory = Path(ct2_dir)
    template = read_model_bin(directory / "model.bin")
    dims = WhisperDims.from_ct2(template)
    ct2_config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    codec = TextCodec(directory / "tokenizer.json")
    hub = ct2_to_whisper(template)
    named = whisper_to_hf(hub, dims)
    ffn_dim = hub["decoder.blocks.0.mlp.0.weight"].shape[0]
    config = hf_config(dims, ffn_dim, ct2_config, codec)
    model = WhisperForConditionalGeneration(config)
    state = {name: torch.from_numpy(np.asarray(a, dtype=np.float32)) for name, a in named.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) - {HF_TIED_PROJECTION}:
        raise ValueError(f"weights do not fit: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    if model.proj_out.weight.data_ptr() != model.model.decoder.embed_tokens.weight.data_ptr():
        raise ValueError("the output projection is not tied to the token embedding")
    model.eval()
    return LoadedWhisper(
        model=model,
        dims=dims,
        template=template,
        ct2_dir=directory,
        codec=codec,
        suppress_tokens=tuple(ct2_config.get("suppress_ids", ())),
        suppress_at_begin=tuple(ct2_config.get("suppress_ids_begin", ())),
    )


def whisper_weights(loaded: LoadedWhisper) -> dict[str, np.ndarray]:
    """The model's parameters (float32 copies) under Whisper's names."""
    state = {
        name: tensor.detach().to(torch.float32).numpy().copy()
        for name, tensor in loaded.model.state_dict().items()
    }
    return hf_to_whisper(state, loaded.dims)


@torch.no_grad()
def encode_windows(loaded: LoadedWhisper, windows: np.ndarray) -> torch.Tensor:
    """Encoder output (n, 1500, d) for (n, 80, 3000) log-mel windows."""
    features = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
    return loaded.model.model.encoder(features).last_hidden_state


@torch.no_grad()
def greedy_decode(
    loaded: LoadedWhisper, encoder_output: torch.Tensor, prompt: str | None = None
) -> list[int]:
    """Greedy text tokens for one window's encoder output (1, 1500, d), no timestamps."""
    decoder = loaded.model.model.decoder
    prefix = loaded.codec.prefix(prompt)
    n_ctx = loaded.dims.n_text_ctx
    max_new = min(n_ctx // 2, n_ctx - len(prefix))
    eot = loaded.codec.special.end_of_text
    suppress = torch.tensor(loaded.suppress_tokens, dtype=torch.long)
    suppress_begin = torch.tensor(loaded.suppress_at_begin, dtype=torch.long)
    inputs = torch.tensor([prefix], dtype=torch.long)
    cache = None
    out: list[int] = []
    for step in range(max_new):
        result = decoder(
            input_ids=inputs,
            encoder_hidden_states=encoder_output,
            cache=cache,
            use_cache=True,
        )
        cache = result.cache
        logits = loaded.model.proj_out(result.last_hidden_state[:, -1]).squeeze(0)
        logits[suppress] = -float("inf")
        if step == 0:
            logits[suppress_begin] = -float("inf")
        token = int(torch.argmax(logits))
        if token == eot:
            break
        out.append(token)
        inputs = torch.tensor([[token]], dtype=torch.long)
    return out
