"""The bundled weights in transformers reproduce serving, and the name tables are complete.

Loading goes through the engine's conversion (CTranslate2 -> Whisper names -> transformers
names). Greedy decoding of the loaded model must then give the very tokens CTranslate2
gives on the same weights and the same serving features, for every clip of the general
corpus, without and with a prompt. CTranslate2 runs at float32 here, the precision the
model is trained in; serving quantizes to int8 on load, which by itself changes a word in
2 of the 10 clips (quantization, not conversion: the float32 run is identical).
"""

from __future__ import annotations

from pathlib import Path

import ctranslate2
import numpy as np
import pytest

from engine import audio
from engine.corpus import read_manifest
from engine.weights import ct2_to_whisper, read_model_bin, whisper_to_ct2, write_model_bin
from engine.weights.names import HF_TIED_PROJECTION, WhisperDims, hf_links, whisper_names
from retrain.finetune.availability import availability
from retrain.finetune.features import encoder_input

pytestmark = [
    pytest.mark.finetune,
    pytest.mark.skipif(not availability().available, reason=availability().reason),
]
model = pytest.importorskip("retrain.finetune.model", exc_type=ImportError)

PROMPT = "Kästner, Terraform, Okonkwo, Zephyrine, p99 latency."


@pytest.fixture(scope="module")
def loaded(base_bundle):
    import torch

    torch.set_num_threads(2)
    return model.load_whisper(base_bundle.ct2_dir)


@pytest.fixture(scope="module")
def ct2_float32(base_bundle):
    return ctranslate2.models.Whisper(
        str(base_bundle.ct2_dir), compute_type="float32", intra_threads=2
    )


def test_every_transformers_parameter_has_a_whisper_name(loaded) -> None:
    state = loaded.model.state_dict()
    table = {link.source for link in hf_links(loaded.dims)}
    assert set(state) == table | {HF_TIED_PROJECTION}
    hub = {name for link in hf_links(loaded.dims) for name in link.hub}
    assert hub == set(whisper_names(loaded.dims))
    assert loaded.model.proj_out.weight is loaded.model.model.decoder.embed_tokens.weight


def test_weights_come_back_bit_exact(loaded, base_model, tmp_path: Path) -> None:
    source = read_model_bin(base_model.ct2_dir / "model.bin")
    back = model.whisper_weights(loaded)
    expected = ct2_to_whisper(source)
    assert set(back) == set(expected)
    for name, value in expected.items():
        assert np.array_equal(back[name], value.astype(np.float32)), name
    write_model_bin(whisper_to_ct2(back, source), tmp_path / "model.bin")
    original = (base_model.ct2_dir / "model.bin").read_bytes()
    assert (tmp_path / "model.bin").read_bytes() == original


def test_config_matches_the_weights(loaded) -> None:
    config = loaded.model.config
    dims = WhisperDims.from_ct2(loaded.template)
    assert (config.vocab_size, config.d_model, config.decoder_layers) == (
        dims.n_vocab,
        dims.n_text_state,
        dims.n_text_layer,
    )
    assert config.decoder_start_token_id == loaded.codec.special.start_of_transcript == 50257
    assert loaded.codec.prefix(None) == [50257, 50362]
    assert loaded.codec.prefix("Terraform.")[0] == 50360
    assert config.dropout == 0.0 and not config.apply_spec_augment


@pytest.mark.parametrize("prompt", [None, PROMPT], ids=["no-prompt", "prompt"])
def test_greedy_output_is_ctranslate2s_on_the_general_corpus(
    loaded, ct2_float32, general_corpus: Path, prompt: str | None
) -> None:
    differing = []
    items = read_manifest(general_corpus)
    assert len(items) == 10
    for item in items:
        window = encoder_input(audio.decode(item.path))
        ours = model.greedy_decode(loaded, model.encode_windows(loaded, window[None]), prompt)
        theirs = ct2_float32.generate(
            ctranslate2.StorageView.from_array(window[None]),
            [loaded.codec.prefix(prompt)],
            beam_size=1,
            suppress_blank=True,
            suppress_tokens=[-1],
            max_length=448,
        )[0].sequences_ids[0]
        assert len(theirs) > 3, item.name
        if ours != theirs:
            differing.append((item.name, loaded.codec.decode(ours), loaded.codec.decode(theirs)))
    assert differing == []
