"""Cross-attention over a frozen encoder output, computed in the cheaper order (imports torch).

Each decoder layer attends from L text positions to the T = 1500 encoder frames. The
usual order projects all T frames to keys and values (2 T d^2 multiply-adds per layer
and example, and as many again for their weight gradients) before attending. With the
encoder frozen the same result follows from associativity, per head h:

- scores: q_h K_h^T = (q_h W_k,h) M^T, so the queries are mapped into the encoder's
  space (L d d_h) and compared with the frames (L d T);
- values: P_h (M W_v,h^T + b_v,h) = (P_h M) W_v,h^T + b_v,h, because every row of the
  attention P_h sums to one.

That is about H L d T instead of T d^2 per product: cheaper while H L < d, i.e. fewer
than 64 text positions for tiny.en, the usual length of a corrected segment
(``FACTORED_MAX_POSITIONS``). The output is the same up to float rounding; training
installs it for its own forward passes only (``factored_cross_attention``), decoding
and evaluation keep transformers' own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from retrain.finetune.availability import prepare_process, require_finetune

require_finetune()
prepare_process()

import torch  # noqa: E402

FACTORED_MAX_POSITIONS = 48  # text positions up to which the factored order is cheaper


def factored_attention(attn: Any, hidden: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """``attn``'s output (transformers' ``WhisperAttention``, used as cross-attention)
    for decoder states ``hidden`` (B, L, d) over encoder output ``memory`` (B, T, d)."""
    batch, positions, width = hidden.shape
    heads, head_width = attn.num_heads, attn.head_dim
    queries = (attn.q_proj(hidden) * attn.scaling).view(batch, positions, heads, head_width)
    queries = queries.transpose(1, 2)  # B, H, L, d_h
    key_weight = attn.k_proj.weight.view(heads, head_width, width)
    value_weight = attn.v_proj.weight.view(heads, head_width, width)
    # every head's positions in one (H L, d) block per example: one product with the frames
    mapped = torch.einsum("bhlc,hcd->bhld", queries, key_weight).reshape(batch, -1, width)
    # a key bias would add the same amount to every frame's score: softmax ignores it
    weights = torch.bmm(mapped, memory.transpose(1, 2)).softmax(dim=-1)  # B, H L, T
    mixed = torch.bmm(weights, memory).view(batch, heads, positions, width)
    context = torch.einsum("bhld,hcd->bhlc", mixed, value_weight)
    if attn.v_proj.bias is not None:
        context = context + attn.v_proj.bias.view(1, heads, 1, head_width)
    return attn.out_proj(context.transpose(1, 2).reshape(batch, positions, width))


@contextlib.contextmanager
def factored_cross_attention(decoder: Any) -> Iterator[None]:
    """Within this block, ``decoder``'s cross-attention layers use ``factored_attention``
    for sequences of at most ``FACTORED_MAX_POSITIONS`` positions called with nothing
    beyond the encoder output (no cache, mask or returned attention weights); any other
    call goes to transformers' own ``forward``."""
    originals = []
    for layer in decoder.layers:
        attn = layer.encoder_attn

        def forward(
            hidden_states, *args, key_value_states=None, _attn=attn, _own=attn.forward, **kwargs
        ):
            extras = args or any(v is not None and v is not False for v in kwargs.values())
            short = hidden_states.shape[1] <= FACTORED_MAX_POSITIONS
            if key_value_states is not None and short and not extras:
                return factored_attention(_attn, hidden_states, key_value_states), None
            return _own(hidden_states, *args, key_value_states=key_value_states, **kwargs)

        originals.append((attn, attn.__dict__.get("forward")))
        attn.forward = forward
    try:
        yield
    finally:
        for attn, own in originals:
            if own is None:
                del attn.forward  # back to the class's method
            else:
                attn.forward = own
