"""Description-based initialization (report eq. 2), rows addressed by id."""

import json
import math

import pytest
import torch

from biomatrix_plugin.model.extend import EXTENSION_REPORT, PAD_TOKEN, extend_model
from biomatrix_plugin.vocab.vocabulary import load_vocabulary


def _load(path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def test_rows_are_description_means_by_id(tiny_base_dir, qwen3_tokenizer, tmp_path):
    vocab = load_vocabulary()
    report = extend_model(tiny_base_dir, tmp_path, vocab, noise_scale=0.0)
    base, _ = _load(tiny_base_dir)
    model, tok = _load(tmp_path)
    E0, E = base.get_input_embeddings().weight, model.get_input_embeddings().weight
    # the first new tokens land inside Qwen3's padding rows (151,669..151,935), not at the tail
    assert report.first_new_id == 151_669 and report.rows_before == 151_936
    assert report.rows_after >= report.last_new_id + 1 and report.rows_after % 128 == 0
    descs = vocab.descriptions()
    for token in ["<|mol_smi_start|>", "<A W>", "<S 4095>", "[C]", "[=Branch1]"]:
        ids = qwen3_tokenizer.encode(descs[token], add_special_tokens=False)  # original tokenizer
        expected = E0[ids].float().mean(0)
        assert torch.allclose(E[tok.convert_tokens_to_ids(token)].float(), expected, atol=1e-6), token
    assert torch.equal(E[:151_669], E0[:151_669])  # base rows untouched
    assert model.get_output_embeddings().weight.data_ptr() == E.data_ptr()  # tied stays tied
    assert tok.pad_token == PAD_TOKEN != tok.eos_token
    assert json.loads((tmp_path / EXTENSION_REPORT).read_text())["n_added"] == len(vocab.tokens())


def test_noise_is_n0_I_over_d_and_seeded(tiny_base_dir, tmp_path):
    a = extend_model(tiny_base_dir, tmp_path / "a", seed=7, noise_scale=1.0)
    extend_model(tiny_base_dir, tmp_path / "b", seed=7, noise_scale=1.0)
    extend_model(tiny_base_dir, tmp_path / "c", seed=8, noise_scale=0.0)
    ma, _ = _load(tmp_path / "a")
    mb, _ = _load(tmp_path / "b")
    mc, _ = _load(tmp_path / "c")
    rows = slice(a.first_new_id, a.last_new_id + 1)
    Ea, Eb, Ec = (m.get_input_embeddings().weight[rows].float() for m in (ma, mb, mc))
    assert torch.equal(Ea, Eb)
    noise = Ea - Ec
    d = Ea.shape[1]
    assert noise.std().item() == pytest.approx(1 / math.sqrt(d), rel=0.05)
    assert abs(noise.mean().item()) < 0.01


def test_untied_output_embeddings_get_the_same_treatment(qwen3_tokenizer, tmp_path):
    from biomatrix_plugin.model.tiny_base import build_tiny_base

    base = build_tiny_base(tmp_path / "base", tokenizer=qwen3_tokenizer, tie_word_embeddings=False, num_layers=1)
    report = extend_model(base, tmp_path / "ext", noise_scale=0.0)
    assert not report.tied_embeddings
    b, _ = _load(base)
    m, tok = _load(tmp_path / "ext")
    ids = qwen3_tokenizer.encode("Tryptophan", add_special_tokens=False)
    row = tok.convert_tokens_to_ids("<A W>")
    W0, W = b.get_output_embeddings().weight, m.get_output_embeddings().weight
    assert W.data_ptr() != m.get_input_embeddings().weight.data_ptr()
    assert torch.allclose(W[row], W0[ids].mean(0), atol=1e-6)
    assert not torch.allclose(W[row], m.get_input_embeddings().weight[row])


def test_extending_twice_is_refused(tiny_extended_model, tmp_path):
    with pytest.raises(ValueError, match="already present"):
        extend_model(tiny_extended_model, tmp_path)


def test_extend_cli_on_an_extended_model_is_one_error_line(tiny_extended_model, tmp_path, capsys):
    from biomatrix_plugin.cli import main

    assert main(["extend", "--base", str(tiny_extended_model), "--out", str(tmp_path / "again")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "already present" in err and err.count("\n") == 1


@pytest.mark.parametrize("kwargs, message", [({"noise_scale": float("nan")}, "noise_scale"),
                                             ({"noise_scale": -1.0}, "noise_scale"), ({"seed": -1}, "seed")])
def test_extend_model_refuses_options_that_cannot_work(tiny_base_dir, tmp_path, kwargs, message):
    from biomatrix_plugin.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        extend_model(tiny_base_dir, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()
