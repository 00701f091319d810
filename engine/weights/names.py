"""Weight names across formats, with Whisper's own (OpenAI) names as the hub.

Every format is mapped to and from the *Whisper names* used by OpenAI's
checkpoints, which whisper.cpp's ggml files use verbatim
(``encoder.blocks.0.attn.query.weight``, ``decoder.token_embedding.weight``, ...).
A new naming only needs a table to and from the hub:

* CTranslate2 (here): mostly renames, plus fused projections. Self-attention
  ``linear_0`` is Q, K and V stacked on the output axis; cross-attention
  ``linear_0`` is Q alone and ``linear_1`` is K and V stacked. Whisper's key
  projections have no bias; CTranslate2's fused bias holds zeros in that slot.
  Dropping a key bias is exact: it adds ``q·b`` to every score of a query, which
  the softmax cancels.
* Hugging Face ``WhisperForConditionalGeneration`` (``hf_links``, for fine-tuning):
  a pure one-to-one rename of the hub names (``model.encoder.layers.N.self_attn.q_proj``
  <-> ``encoder.blocks.N.attn.query``, ...). Its key projections have no bias either,
  and its positional embeddings are embedding tables (``embed_positions.weight``) of the
  same shape as Whisper's. The output projection ``proj_out.weight`` is tied to the
  token embedding, so it is not in the table (``HF_TIED_PROJECTION``): it is dropped on
  the way to the hub and re-tied when a model is built from hub weights.

A ``Link`` ties one source variable to one or more hub variables. ``to_hub`` and
``from_hub`` walk a table in either direction, so a variable neither side knows is
an error rather than silently lost.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from engine.weights.ct2 import CT2Model
from engine.weights.quantize import dequantized


@dataclass(frozen=True, slots=True)
class WhisperDims:
    """A Whisper model's hyper-parameters (the ggml header's first ten)."""

    n_vocab: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int
    n_mels: int

    @classmethod
    def from_ct2(cls, model: CT2Model) -> WhisperDims:
        def layers(side: str) -> int:
            pattern = re.compile(rf"^{side}/layer_(\d+)/")
            found = {int(m.group(1)) for n in model.variables if (m := pattern.match(n))}
            if found != set(range(len(found))):
                raise ValueError(f"{side} layers are not numbered 0..n-1: {sorted(found)}")
            return len(found)

        embeddings = model.get("decoder/embeddings/weight")
        audio_positions = model.get("encoder/position_encodings/encodings")
        text_positions = model.get("decoder/position_encodings/encodings")
        return cls(
            n_vocab=embeddings.shape[0],
            n_audio_ctx=audio_positions.shape[0],
            n_audio_state=audio_positions.shape[1],
            n_audio_head=int(model.scalar("encoder/num_heads")),
            n_audio_layer=layers("encoder"),
            n_text_ctx=text_positions.shape[0],
            n_text_state=embeddings.shape[1],
            n_text_head=int(model.scalar("decoder/num_heads")),
            n_text_layer=layers("decoder"),
            n_mels=model.get("encoder/conv1/weight").shape[1],
        )


@dataclass(frozen=True, slots=True)
class Link:
    """One source variable and the hub variable(s) it holds.

    With several ``hub`` names the source is their concatenation along axis 0
    (a fused projection). A ``None`` hub name marks a slot the hub does not have
    (a key bias): it is dropped on the way in and filled with zeros on the way out.
    """

    source: str
    hub: tuple[str | None, ...]

    @property
    def fused(self) -> bool:
        return len(self.hub) > 1


def whisper_names(dims: WhisperDims) -> list[str]:
    """Every Whisper (and ggml) tensor name, in the order of OpenAI's checkpoints."""
    names = [
        "encoder.positional_embedding",
        "encoder.conv1.weight",
        "encoder.conv1.bias",
        "encoder.conv2.weight",
        "encoder.conv2.bias",
    ]
    for i in range(dims.n_audio_layer):
        names += _block_names(f"encoder.blocks.{i}", cross=False)
    names += ["encoder.ln_post.weight", "encoder.ln_post.bias"]
    names += ["decoder.positional_embedding", "decoder.token_embedding.weight"]
    for i in range(dims.n_text_layer):
        names += _block_names(f"decoder.blocks.{i}", cross=True)
    names += ["decoder.ln.weight", "decoder.ln.bias"]
    return names


def _attention_names(prefix: str) -> list[str]:
    return [
        f"{prefix}.query.weight",
        f"{prefix}.query.bias",
        f"{prefix}.key.weight",
        f"{prefix}.value.weight",
        f"{prefix}.value.bias",
        f"{prefix}.out.weight",
        f"{prefix}.out.bias",
    ]


def _block_names(block: str, *, cross: bool) -> list[str]:
    names = [*_attention_names(f"{block}.attn"), f"{block}.attn_ln.weight", f"{block}.attn_ln.bias"]
    if cross:
        names += [
            *_attention_names(f"{block}.cross_attn"),
            f"{block}.cross_attn_ln.weight",
            f"{block}.cross_attn_ln.bias",
        ]
    names += [
        f"{block}.mlp.0.weight",
        f"{block}.mlp.0.bias",
        f"{block}.mlp.2.weight",
        f"{block}.mlp.2.bias",
        f"{block}.mlp_ln.weight",
        f"{block}.mlp_ln.bias",
    ]
    return names


# ---------------------------------------------------------------- CTranslate2 <-> hub


def _ct2_norm(ct2: str, hub: str) -> list[Link]:
    return [Link(f"{ct2}/gamma", (f"{hub}.weight",)), Link(f"{ct2}/beta", (f"{hub}.bias",))]


def _ct2_dense(ct2: str, hub: str) -> list[Link]:
    return [Link(f"{ct2}/weight", (f"{hub}.weight",)), Link(f"{ct2}/bias", (f"{hub}.bias",))]


def _ct2_block(ct2: str, hub: str, *, cross: bool) -> list[Link]:
    links = [
        Link(
            f"{ct2}/self_attention/linear_0/weight",
            (f"{hub}.attn.query.weight", f"{hub}.attn.key.weight", f"{hub}.attn.value.weight"),
        ),
        Link(
            f"{ct2}/self_attention/linear_0/bias",
            (f"{hub}.attn.query.bias", None, f"{hub}.attn.value.bias"),
        ),
        *_ct2_dense(f"{ct2}/self_attention/linear_1", f"{hub}.attn.out"),
        *_ct2_norm(f"{ct2}/self_attention/layer_norm", f"{hub}.attn_ln"),
    ]
    if cross:
        links += [
            *_ct2_dense(f"{ct2}/attention/linear_0", f"{hub}.cross_attn.query"),
            Link(
                f"{ct2}/attention/linear_1/weight",
                (f"{hub}.cross_attn.key.weight", f"{hub}.cross_attn.value.weight"),
            ),
            Link(f"{ct2}/attention/linear_1/bias", (None, f"{hub}.cross_attn.value.bias")),
            *_ct2_dense(f"{ct2}/attention/linear_2", f"{hub}.cross_attn.out"),
            *_ct2_norm(f"{ct2}/attention/layer_norm", f"{hub}.cross_attn_ln"),
        ]
    links += [
        *_ct2_dense(f"{ct2}/ffn/linear_0", f"{hub}.mlp.0"),
        *_ct2_dense(f"{ct2}/ffn/linear_1", f"{hub}.mlp.2"),
        *_ct2_norm(f"{ct2}/ffn/layer_norm", f"{hub}.mlp_ln"),
    ]
    return links


def ct2_links(dims: WhisperDims) -> list[Link]:
    """The full CTranslate2 ``WhisperSpec`` <-> Whisper table for a model of ``dims``.

    Scalar flags (``*/num_heads``, ``*/pre_norm``, ...) and aliases are not weights
    and are not in the table; they are carried over from a template model.
    """
    links = [
        Link("encoder/position_encodings/encodings", ("encoder.positional_embedding",)),
        *_ct2_dense("encoder/conv1", "encoder.conv1"),
        *_ct2_dense("encoder/conv2", "encoder.conv2"),
    ]
    for i in range(dims.n_audio_layer):
        links += _ct2_block(f"encoder/layer_{i}", f"encoder.blocks.{i}", cross=False)
    links += _ct2_norm("encoder/layer_norm", "encoder.ln_post")
    links += [
        Link("decoder/position_encodings/encodings", ("decoder.positional_embedding",)),
        Link("decoder/embeddings/weight", ("decoder.token_embedding.weight",)),
    ]
    for i in range(dims.n_text_layer):
        links += _ct2_block(f"decoder/layer_{i}", f"decoder.blocks.{i}", cross=True)
    links += _ct2_norm("decoder/layer_norm", "decoder.ln")
    return links


def _split(array: np.ndarray, parts: int, source: str) -> list[np.ndarray]:
    if array.shape[0] % parts:
        raise ValueError(f"{source}: axis 0 ({array.shape[0]}) does not split in {parts}")
    return np.split(array, parts, axis=0)


# ---------------------------------------------------------------- Hugging Face <-> hub

# transformers' output projection: the same tensor as the token embedding (tied).
HF_TIED_PROJECTION = "proj_out.weight"

_HF_ATTENTION = {"query": "q_proj", "key": "k_proj", "value": "v_proj", "out": "out_proj"}


def _hf_rename(hub: str, hf: str, *, bias: bool = True) -> list[Link]:
    links = [Link(f"{hf}.weight", (f"{hub}.weight",))]
    if bias:
        links.append(Link(f"{hf}.bias", (f"{hub}.bias",)))
    return links


def _hf_block(hub: str, hf: str, *, cross: bool) -> list[Link]:
    attentions = [("attn", "self_attn")]
    if cross:
        attentions.append(("cross_attn", "encoder_attn"))
    links: list[Link] = []
    for hub_attn, hf_attn in attentions:
        for hub_proj, hf_proj in _HF_ATTENTION.items():
            links += _hf_rename(
                f"{hub}.{hub_attn}.{hub_proj}", f"{hf}.{hf_attn}.{hf_proj}", bias=hub_proj != "key"
            )
        links += _hf_rename(f"{hub}.{hub_attn}_ln", f"{hf}.{hf_attn}_layer_norm")
    links += _hf_rename(f"{hub}.mlp.0", f"{hf}.fc1")
    links += _hf_rename(f"{hub}.mlp.2", f"{hf}.fc2")
    links += _hf_rename(f"{hub}.mlp_ln", f"{hf}.final_layer_norm")
    return links


def hf_links(dims: WhisperDims) -> list[Link]:
    """The transformers ``WhisperForConditionalGeneration`` <-> Whisper table for ``dims``.

    One-to-one (nothing fused); ``HF_TIED_PROJECTION`` is left out because it is the
    token embedding under a second name.
    """
    links = [
        Link("model.encoder.embed_positions.weight", ("encoder.positional_embedding",)),
        *_hf_rename("encoder.conv1", "model.encoder.conv1"),
        *_hf_rename("encoder.conv2", "model.encoder.conv2"),
    ]
    for i in range(dims.n_audio_layer):
        links += _hf_block(f"encoder.blocks.{i}", f"model.encoder.layers.{i}", cross=False)
    links += _hf_rename("encoder.ln_post", "model.encoder.layer_norm")
    links += [
        Link("model.decoder.embed_positions.weight", ("decoder.positional_embedding",)),
        Link("model.decoder.embed_tokens.weight", ("decoder.token_embedding.weight",)),
    ]
    for i in range(dims.n_text_layer):
        links += _hf_block(f"decoder.blocks.{i}", f"model.decoder.layers.{i}", cross=True)
    links += _hf_rename("decoder.ln", "model.decoder.layer_norm")
    return links


def whisper_to_hf(weights: Mapping[str, np.ndarray], dims: WhisperDims) -> dict[str, np.ndarray]:
    """Whisper-named weights under transformers' names (views; no tied projection)."""
    return from_hub(weights, hf_links(dims), {})


def hf_to_whisper(state: Mapping[str, np.ndarray], dims: WhisperDims) -> dict[str, np.ndarray]:
    """A transformers state dict (as numpy arrays) under Whisper's names.

    The tied ``proj_out.weight`` may be present: it must then equal the token
    embedding, since the serving formats store one matrix for both.
    """
    links = hf_links(dims)
    known = {link.source for link in links} | {HF_TIED_PROJECTION}
    unknown = set(state) - known
    if unknown:
        raise ValueError(f"variables with no Whisper name: {sorted(unknown)}")
    tied = state.get(HF_TIED_PROJECTION)
    embedding = state["model.decoder.embed_tokens.weight"]
    if tied is not None and not np.array_equal(np.asarray(tied), np.asarray(embedding)):
        raise ValueError(f"{HF_TIED_PROJECTION} is not tied to the token embedding")
    return to_hub(state, links)


# ---------------------------------------------------------------- any table <-> hub


def to_hub(source: Mapping[str, np.ndarray], links: list[Link]) -> dict[str, np.ndarray]:
    """Apply ``links`` forwards: source-named arrays -> hub-named arrays (views, no copies).

    Fused sources are split along axis 0; ``None`` slots are dropped. Every source
    name in ``links`` must be present.
    """
    hub: dict[str, np.ndarray] = {}
    for link in links:
        array = source[link.source]
        parts = _split(array, len(link.hub), link.source) if link.fused else [array]
        for hub_name, part in zip(link.hub, parts, strict=True):
            if hub_name is not None:
                hub[hub_name] = part
    return hub


def from_hub(
    hub: Mapping[str, np.ndarray], links: list[Link], shapes: Mapping[str, tuple[int, ...]]
) -> dict[str, np.ndarray]:
    """Apply ``links`` backwards: hub-named arrays -> source-named arrays.

    ``shapes`` gives each fused source's shape (to size the zero-filled slots).
    Every hub name the links mention must be present, and nothing else.
    """
    expected = {name for link in links for name in link.hub if name is not None}
    missing = expected - set(hub)
    extra = set(hub) - expected
    if missing or extra:
        raise ValueError(f"weights do not fit: missing {sorted(missing)}, extra {sorted(extra)}")
    out: dict[str, np.ndarray] = {}
    for link in links:
        if not link.fused:
            (hub_name,) = link.hub
            out[link.source] = np.asarray(hub[hub_name])
            continue
        present = [np.asarray(hub[name]) for name in link.hub if name is not None]
        dtype = np.result_type(*present)
        rows = shapes[link.source][0] // len(link.hub)
        blank = np.zeros((rows, *shapes[link.source][1:]), dtype=dtype)
        parts = [blank if name is None else np.asarray(hub[name]) for name in link.hub]
        out[link.source] = np.concatenate([p.astype(dtype, copy=False) for p in parts], axis=0)
    return out


# ---------------------------------------------------------------- CTranslate2 models


class _Resolving(Mapping[str, np.ndarray]):
    """A CT2Model's variables, looked up through its aliases."""

    def __init__(self, model: CT2Model) -> None:
        self._model = model

    def __getitem__(self, name: str) -> np.ndarray:
        return self._model.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._model.variables)

    def __len__(self) -> int:
        return len(self._model.variables)


def iter_ct2_as_whisper(model: CT2Model) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(whisper_name, array)`` for every weight, in Whisper's order, dtypes kept.

    Arrays are views into ``model``'s buffers (no copies); an int8 model is read as
    float16 first (``engine.weights.quantize``).
    """
    model = dequantized(model)
    dims = WhisperDims.from_ct2(model)
    links = ct2_links(dims)
    scalars = {name for name, v in model.variables.items() if v.ndim == 0}
    unknown = set(model.variables) - scalars - {link.source for link in links}
    if unknown:
        raise ValueError(f"variables with no Whisper name: {sorted(unknown)}")
    found = to_hub(_Resolving(model), links)
    for name in whisper_names(dims):
        yield name, found[name]


def ct2_to_whisper(model: CT2Model) -> dict[str, np.ndarray]:
    """All weights under their Whisper names (fused projections split, key biases dropped)."""
    return dict(iter_ct2_as_whisper(model))


def whisper_to_ct2(weights: Mapping[str, np.ndarray], template: CT2Model) -> CT2Model:
    """Put Whisper-named weights back into the structure of ``template``.

    Fused projections are re-fused and key-bias slots filled with zeros; every
    value is cast to the template's dtype for that variable. Scalar flags, aliases,
    the spec name and the variable order come from ``template``, so writing the
    result of ``whisper_to_ct2(ct2_to_whisper(m), m)`` reproduces ``m`` bit for bit. An
    int8 template gives a float16 model (its weights are new numbers, not the template's).
    """
    template = dequantized(template)
    links = ct2_links(WhisperDims.from_ct2(template))
    shapes = {link.source: template.get(link.source).shape for link in links}
    return template.with_variables(from_hub(weights, links, shapes))
