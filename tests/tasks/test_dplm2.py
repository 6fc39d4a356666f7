"""DPLM-2 protein tasks: the listing + GCP-VQVAE codes + native structure fixture -> built rows -> eval.

The whole structure path on a real file: a PDB fragment (2GTL chain A, from the PDB entry tmtools ships)
-> protein3d backbone extraction -> its precomputed GCP-VQVAE codes (vq_indices.csv) -> the wrapped folding
prompt -> an oracle generation (the gold codes) -> the protein3d readout decodes them to a CA trace (through an
injected decoder: GCP-VQVAE weights are not here) -> TM-score / RMSD against the native CA trace."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biomatrix_plugin.eval import readout_protein3d
from biomatrix_plugin.eval.protein_generation import closest_to_length, first_length_matched
from biomatrix_plugin.eval.readout import ReadoutSpec, read_out
from biomatrix_plugin.eval.registry import compute
from biomatrix_plugin.eval.report import build_rows, load_paper, load_results
from biomatrix_plugin.eval.run import RunOptions, run_eval
from biomatrix_plugin.modalities.serialization import unwrap
from biomatrix_plugin.protein3d.backbone import extract_chains
from biomatrix_plugin.protein3d.vq_csv import read_vq_csv
from biomatrix_plugin.tasks.registry import TaskRegistry
from biomatrix_plugin.tasks.sources.dplm2 import report_length_protocol
from conftest import read_jsonl
from task_testing import FIXTURES, OracleBackend, build_fixture_tasks, fake_model_dir, rejects, results_by_metric

ROOT = FIXTURES / "dplm2"
LISTING = ("pdb_folding", "pdb_inverse_folding")
GENERATION = ("cogeneration_seq_to_struct", "cogeneration_struct_to_seq", "unconditional_backbone_generation",
              "unconditional_sequence_generation")
TASKS = LISTING + GENERATION


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dplm2")
    build_fixture_tasks(TASKS, out)
    return out


class NativeDecoder:
    """Stands in for GCP-VQVAE's decoder (weights not shipped): the fixture's codes -> the backbone of the
    structure they were computed on; unknown codes -> an error, as a failed decode."""

    def __init__(self):
        self.table = {}
        records, _ = read_vq_csv(ROOT / "gcp_vqvae" / "PDB_date" / "vq_indices.csv")
        for record in records:
            stem = record.pid.split("_chain_id_")[0]
            chain = extract_chains(ROOT / "structures" / "PDB_date" / f"{stem}.pdb").chains[0]
            if chain.sequence == record.sequence:
                self.table[tuple(record.codes)] = chain.backbone
        self.calls = 0

    def decode_batch(self, codes):
        self.calls += 1
        return [self.table[tuple(c)] for c in codes]


@pytest.fixture
def decoder():
    dec = NativeDecoder()
    readout_protein3d.set_structure_decoder(dec)
    yield dec
    readout_protein3d.set_structure_decoder(None)


@pytest.mark.parametrize("task", LISTING)
def test_listing_rows_and_rejects_name_the_structure(built, task):
    assert len(read_jsonl(built / task / "default" / "train.jsonl")) == 3
    assert len(read_jsonl(built / task / "default" / "test.jsonl")) == 1
    reasons = rejects(built, task)
    assert len(reasons) == 4
    assert any("'4jkl_C': no GCP-VQVAE codes" in r for r in reasons)  # listed, never encoded
    assert any("'8xyz_B': no GCP-VQVAE codes" in r for r in reasons)
    assert any("'7ok9_A'" in r and "differs" in r for r in reasons)  # codes computed on another sequence
    assert any("'5bad_A'" in r and "invalid character" in r for r in reasons)


def test_codes_come_from_gcp_vqvae_never_from_dplm2_struct_tokens(built):
    test = read_jsonl(built / "pdb_folding" / "default" / "test.jsonl")[0]
    records, _ = read_vq_csv(ROOT / "gcp_vqvae" / "PDB_date" / "vq_indices.csv")
    gcp = {r.pid: r.codes for r in records}["2gtl_chain_id_A"]
    dplm2 = [int(x) for x in (ROOT / "data-bin" / "PDB_date" / "struct.fasta").read_text().splitlines()[1].split(",")]
    found = unwrap(test["answer"])
    assert found.first("prot3d") == gcp
    assert found.first("prot3d") != dplm2


def test_folding_reference_is_the_native_ca_trace_of_the_structure_file(built):
    test = read_jsonl(built / "pdb_folding" / "default" / "test.jsonl")[0]
    chain = extract_chains(ROOT / "structures" / "PDB_date" / "2gtl.pdb").chains[0]
    ref = test["references"][0]
    assert ref["sequence"] == chain.sequence
    assert np.allclose(ref["ca"], chain.backbone[:, 1, :], atol=1e-3)
    assert unwrap(test["prompt"]).first("protein") == chain.sequence


def test_inverse_folding_prompt_holds_the_codes_and_the_answer_the_sequence(built):
    test = read_jsonl(built / "pdb_inverse_folding" / "default" / "test.jsonl")[0]
    found = unwrap(test["prompt"])
    assert len(found.first("prot3d")) == len(test["references"][0]["sequence"]) == 40
    assert unwrap(test["answer"]).first("protein") == test["references"][0]["sequence"]


@pytest.mark.parametrize("task", TASKS)
def test_every_row_round_trips_through_unwrap(built, task):
    for split in ("train", "test"):
        for row in read_jsonl(built / task / "default" / f"{split}.jsonl"):
            text = row["instruction"] + row["input"] + row.get("output", row.get("answer", ""))
            found = unwrap(text)
            assert not found.errors, (task, found.errors)


@pytest.mark.parametrize("task", GENERATION)
def test_generation_tasks_train_on_the_codes_and_test_on_the_length_protocol(built, task):
    train = read_jsonl(built / task / "default" / "train.jsonl")
    assert len(train) == 3 and all(row["input"] == "" for row in train)
    test = read_jsonl(built / task / "default" / "test.jsonl")
    assert [r["references"][0] for r in test] == report_length_protocol()
    assert len({r["prompt"] for r in test}) == 1  # one prompt: eval run samples n once for all targets
    reasons = rejects(built, task)
    assert any("'9bad_chain_id_A': no GCP-VQVAE codes" in r for r in reasons)
    assert any("3 indices but the sequence has 4" in r for r in reasons)
    assert any("length 0" in r for r in reasons)


def test_cogeneration_writes_both_views_in_its_order(built):
    seq_first = read_jsonl(built / "cogeneration_seq_to_struct" / "default" / "train.jsonl")[0]["output"]
    struct_first = read_jsonl(built / "cogeneration_struct_to_seq" / "default" / "train.jsonl")[0]["output"]
    assert seq_first.index("<|prot_aa_start|>") < seq_first.index("<|prot_3d_start|>")
    assert struct_first.index("<|prot_3d_start|>") < struct_first.index("<|prot_aa_start|>")
    assert unwrap(seq_first).first("protein") == unwrap(struct_first).first("protein")


def test_readout_without_a_decoder_keeps_the_codes_and_says_why(monkeypatch):
    monkeypatch.delenv(readout_protein3d.CONFIG_ENV, raising=False)
    readout_protein3d.set_structure_decoder(None)
    out = read_out("Here: <|prot_3d_start|><S 5><S 17><S 4095><|prot_3d_end|>", ReadoutSpec("protein3d"))
    assert out.value == {"codes": [5, 17, 4095], "sequence": None}
    assert "no protein3d structure decoder" in out.reason
    result = compute("tm_score", [out.value], [[[0.0, 0.0, 0.0], [3.8, 0.0, 0.0], [7.6, 0.0, 0.0]]])
    assert result.status == "not_computed" and result.n_invalid == 1
    assert read_out("no structure", ReadoutSpec("protein3d")).reason == "no protein 3D segment"
    assert "malformed" in read_out("<|prot_3d_start|><S 5>", ReadoutSpec("protein3d")).reason


def test_a_broken_decoder_configuration_is_one_clear_error(monkeypatch, tmp_path):
    readout_protein3d.set_structure_decoder(None)
    monkeypatch.setenv(readout_protein3d.CONFIG_ENV, str(tmp_path / "missing.yaml"))
    with pytest.raises(readout_protein3d.StructureDecoderError, match="missing.yaml"):
        read_out("<|prot_3d_start|><S 5><S 6><S 7><|prot_3d_end|>", ReadoutSpec("protein3d"))


def test_whole_structure_path_scores_the_gold_perfectly(built, decoder):
    """PDB file -> backbone -> codes -> prompt -> generation (gold) -> decoded CA -> TM-score / RMSD."""
    test = read_jsonl(built / "pdb_folding" / "default" / "test.jsonl")[0]
    out = read_out(f"The structure is {test['answer']}.", ReadoutSpec("protein3d"))
    assert out.reason is None and len(out.value["ca"]) == 40
    ref = test["references"][0]
    assert compute("tm_score", [out.value], [ref]).value == pytest.approx(1.0, abs=1e-6)
    assert compute("rmsd", [out.value], [ref]).value == pytest.approx(0.0, abs=1e-3)
    # a shifted trace of the same length still aligns (superposition), a shorter one is invalid for RMSD
    moved = dict(out.value, ca=(np.asarray(out.value["ca"]) + 5.0).tolist())
    assert compute("rmsd", [moved], [ref]).value == pytest.approx(0.0, abs=1e-3)
    short = dict(out.value, ca=out.value["ca"][:30])
    assert compute("rmsd", [short], [ref]).status == "not_computed"


def test_eval_run_scores_folding_and_report_lists_it_next_to_the_paper(built, decoder, tmp_path):
    registry = TaskRegistry()
    tasks = [registry.get("pdb_folding"), registry.get("pdb_inverse_folding")]
    out = tmp_path / "eval"
    # answers every prompt with the gold answer of its test row ("The answer is ...")
    oracle = OracleBackend(built, tasks=LISTING, wrap=lambda answer: f"The answer is {answer}")
    summaries = run_eval(tasks, RunOptions(model=fake_model_dir(tmp_path), data_dir=built, out_dir=out,
                                           backend="oracle"), backend_factory=lambda: oracle)
    metrics = {s["task"]: s["metrics"] for s in summaries}
    assert metrics["pdb_folding"]["tm_score"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["pdb_folding"]["rmsd"] == pytest.approx(0.0, abs=1e-3)
    assert metrics["pdb_inverse_folding"]["aar"] == pytest.approx(1.0)
    assert metrics["pdb_inverse_folding"]["sctm"] is None  # no ESMFold injected: not computed, with the reason
    assert "ESMFold" in results_by_metric(out)[("pdb_inverse_folding", "default", "sctm")]["reason"]
    rows = build_rows(load_results(out), load_paper())
    folding = {r.metric: r for r in rows if r.task == "pdb_folding"}
    assert folding["tm_score"].paper == pytest.approx(0.84)


def test_length_rules_of_the_report():
    samples = ["A" * 98, "A" * 100, "A" * 205, {"codes": [1] * 199}, "", "A" * 101]
    assert first_length_matched(samples, 100) == "A" * 100
    assert first_length_matched(samples, 7) is None
    kept = closest_to_length(samples, [(100, 2), (200, 2)])
    assert kept[100] == ["A" * 100, "A" * 101]
    assert kept[200] == ["A" * 205, {"codes": [1] * 199}]
