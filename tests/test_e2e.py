"""End to end through the stock ``llamafactory-cli``: extend -> corpus -> CPT -> SFT -> generate -> unwrap."""

import json

import pytest


@pytest.mark.slow
def test_demo_pipeline_trains_and_generates(tmp_path):
    from biomatrix_plugin.demo.run import run_demo
    from biomatrix_plugin.modalities.serialization import unwrap

    result = run_demo(tmp_path / "work", tmp_path / "data", cpt_steps=16, sft_steps=16, n_molecules=150)
    cpt_first, cpt_last = result["cpt_loss_first_last"]
    sft_first, sft_last = result["sft_loss_first_last"]
    assert cpt_last < cpt_first - 1.0, "CPT loss did not go down"
    assert sft_last < sft_first, "SFT loss did not go down"
    # the biomatrix formatting serialized raw SMILES at load time inside llamafactory-cli
    sft_log = (tmp_path / "work" / "sft.log").read_text()
    assert "<|mol_smi_start|>" in sft_log and "<|mol_sfi_start|>" in sft_log
    # the trained model keeps the extended vocabulary and generation output goes through unwrap
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tmp_path / "work" / "sft")
    assert tok.convert_tokens_to_ids("<A W>") > 151_668
    parsed = unwrap(result["generated"])
    assert [s["modality"] for s in result["segments"]] == [s.modality for s in parsed.segments]
    assert (tmp_path / "work" / "loss_curves.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "work" / "demo_result.json").read_text())
    assert saved["generated"] == result["generated"]
