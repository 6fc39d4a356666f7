"""Generation backends on CPU with the spine's tiny extended model (real Qwen3 BPE + project vocabulary)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from biomatrix_plugin.eval.generation import (
    DecodingConfig,
    GenerationError,
    HFBackend,
    VLLMBackend,
    build_messages,
    chat_prompt,
    clean_output,
    decode_new_tokens,
    read_prompts,
)


def test_decoding_config_rules():
    assert DecodingConfig.greedy().do_sample is False
    s = DecodingConfig.sample(0.7, n=4)
    assert (s.top_p, s.n, s.temperature) == (1.0, 4, 0.7)
    with pytest.raises(GenerationError, match="temperature > 0"):
        DecodingConfig.sample(0.0)
    with pytest.raises(GenerationError, match="n must be 1"):
        DecodingConfig(do_sample=False, n=2)


def test_clean_output_cuts_terminators_and_empty_think():
    assert clean_output("<think>\n\n</think>\n\n<|mol_smi_start|>CCO<|mol_smi_end|><|im_end|>\n<|endoftext|>") == \
        "<|mol_smi_start|>CCO<|mol_smi_end|>"
    assert clean_output("answer<|endoftext|>junk") == "answer"


@pytest.fixture(scope="module")
def backend(tiny_extended_model):
    return HFBackend(tiny_extended_model, device="cpu", batch_size=2)


@pytest.mark.slow
def test_decode_keeps_modality_tokens(backend):
    tok = backend.tokenizer
    wrapped = "<|prot_aa_start|><A M><A K><|prot_aa_end|> and <|mol_smi_start|>CCO<|mol_smi_end|>"
    ids = tok(wrapped + "<|im_end|>\n<|endoftext|>", add_special_tokens=False)["input_ids"]
    # each residue token is one id: the wrapper, two residues, the wrapper
    assert len(tok("<|prot_aa_start|><A M><A K><|prot_aa_end|>", add_special_tokens=False)["input_ids"]) == 4
    text = decode_new_tokens(tok, ids)
    assert text == wrapped
    from biomatrix_plugin.modalities.serialization import unwrap

    found = unwrap(text)
    assert found.first("protein") == "MK" and found.first("smiles") == "CCO"


@pytest.mark.slow
def test_chat_prompt_is_chatml(backend):
    messages = build_messages("Give the SMILES.", "<|mol_smi_start|>CCO<|mol_smi_end|>", system="You are BioMatrix.")
    prompt = chat_prompt(backend.tokenizer, messages)
    assert prompt == ("<|im_start|>system\nYou are BioMatrix.<|im_end|>\n<|im_start|>user\nGive the SMILES.\n"
                      "<|mol_smi_start|>CCO<|mol_smi_end|><|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.slow
def test_greedy_is_deterministic_and_batch_independent(backend):
    prompts = [build_messages("Describe this molecule.", "<|mol_smi_start|>CCO<|mol_smi_end|>"),
               build_messages("Fold this protein.", "<|prot_aa_start|><A M><A K><|prot_aa_end|>"),
               build_messages("Hi")]
    config = DecodingConfig.greedy(max_new_tokens=12)
    first = backend.generate(prompts, config)
    second = backend.generate(prompts, config)
    assert [g.texts for g in first] == [g.texts for g in second]
    assert all(len(g.texts) == 1 for g in first)
    # left padding must not change a prompt's greedy answer
    alone = backend.generate(prompts[2:], config)
    assert alone[0].texts == first[2].texts
    for g in first:
        assert "<|im_end|>" not in g.texts[0] and "<|endoftext|>" not in g.texts[0]
        assert len(g.unwrapped) == 1


@pytest.mark.slow
def test_sampling_returns_n_samples_seeded(backend):
    prompts = [build_messages("Generate a molecule."), build_messages("Generate a protein.")]
    config = DecodingConfig.sample(1.0, n=3, max_new_tokens=10, seed=123)
    a = backend.generate(prompts, config)
    b = backend.generate(prompts, config)
    assert [len(g.texts) for g in a] == [3, 3]
    assert [g.texts for g in a] == [g.texts for g in b]  # same seed, same samples
    assert len(set(a[0].texts)) > 1  # a random tiny model at T=1 does not repeat itself


@pytest.mark.slow
def test_generate_cli_writes_jsonl(tiny_extended_model, tmp_path, capsys):
    from biomatrix_plugin.cli import main

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "a", "instruction": "Hi", "task": "demo"}) + "\n" +
                       json.dumps({"messages": [{"role": "user", "content": "Hello"}]}) + "\n")
    out = tmp_path / "gen.jsonl"
    rc = main(["eval", "generate", "--model", str(tiny_extended_model), "--prompts", str(prompts), "--out", str(out),
               "--mode", "sample", "--temperature", "0.8", "--n", "2", "--max-new-tokens", "6", "--device", "cpu"])
    assert rc == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["written"] == 2 and counts["samples"] == 4
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["id"] == "a" and rows[0]["task"] == "demo" and len(rows[0]["texts"]) == 2
    assert rows[1]["id"] == "2"


def test_read_prompts_errors(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"instruction": "ok"}\n{"input": "no instruction"}\n')
    with pytest.raises(GenerationError, match="p.jsonl:2: needs 'messages'"):
        read_prompts(p)
    with pytest.raises(GenerationError, match="file not found"):
        read_prompts(tmp_path / "missing.jsonl")
    with pytest.raises(GenerationError, match="no config.json"):
        HFBackend(tmp_path)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_vllm_missing_gives_instruction(tmp_path):
    with pytest.raises(GenerationError, match=r"pip install 'biomatrix-plugin\[vllm\]'"):
        VLLMBackend(tmp_path)


@pytest.mark.slow
def test_generate_then_score_then_report(tiny_extended_model, tmp_path, capsys):
    """The whole path a user runs: generate samples, score them, report against the paper."""
    from biomatrix_plugin.cli import main

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"instruction": "Generate a molecule in SELFIES."}) + "\n" for _ in range(3)))
    gen = tmp_path / "gen.jsonl"
    assert main(["eval", "generate", "--model", str(tiny_extended_model), "--prompts", str(prompts), "--out", str(gen),
                 "--mode", "sample", "--temperature", "1.0", "--n", "2", "--max-new-tokens", "8"]) == 0
    capsys.readouterr()
    results = tmp_path / "results"
    assert main(["eval", "metric", "validity", "--pred", str(gen), "--field", "texts", "--out",
                 str(results / "validity.json"), "--task", "moses_unconditional", "--variant", "selfies"]) == 0
    obj = json.loads(capsys.readouterr().out)
    # 3 prompts x 2 samples, all scored; a random tiny model rarely writes a wrapped molecule
    assert obj["n_items"] == 6 and obj["n_invalid"] + round(obj["value"] * 6) == 6
    assert main(["eval", "report", str(results)]) == 0
    md = (results / "report.md").read_text()
    assert "moses_unconditional | selfies | validity" in md and "0.998" in md


def test_generate_greedy_with_several_samples_is_refused(tmp_path, capsys):
    from biomatrix_plugin.cli import main

    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"instruction": "Give a molecule."}\n')
    out = tmp_path / "gen.jsonl"
    rc = main(["eval", "generate", "--model", str(tmp_path), "--prompts", str(prompts), "--out", str(out),
               "--mode", "greedy", "--n", "10"])
    assert rc == 2 and not out.exists()
    assert "--n 10 needs --mode sample" in capsys.readouterr().err
