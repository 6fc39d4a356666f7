"""ProDVa text-to-protein design (CAMEO, Molinst-SwissProtCLAP): fixture JSON lists -> built rows -> eval run
with an oracle, every model-based metric "not computed" with its reason unless a model is injected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biomatrix_plugin.eval import proteins
from biomatrix_plugin.eval.report import build_rows, load_paper, load_results
from biomatrix_plugin.eval.run import RunOptions, run_eval
from biomatrix_plugin.modalities.serialization import unwrap
from biomatrix_plugin.tasks.registry import TaskRegistry
from biomatrix_plugin.tasks.sources.prodva import function_text
from conftest import read_jsonl
from task_testing import OracleBackend, build_fixture_tasks, fake_model_dir, rejects, results_by_metric

TASKS = ("prodva_cameo", "prodva_molinst_swissprotclap")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prodva")
    build_fixture_tasks(TASKS, out)
    return out


def test_counts_and_rejects(built):
    assert len(read_jsonl(built / "prodva_cameo" / "default" / "train.jsonl")) == 2
    assert len(read_jsonl(built / "prodva_cameo" / "default" / "test.jsonl")) == 2
    cameo = rejects(built, "prodva_cameo")
    assert any("invalid character(s) '1'" in r for r in cameo)
    assert any("no ':' before the function keywords" in r for r in cameo)
    assert any(r == "instruction: empty" for r in cameo)
    clap = rejects(built, "prodva_molinst_swissprotclap")
    assert any("no numbered requirement" in r for r in clap) and any("'*'" in r for r in clap)


def test_function_text_is_cut_as_pdfbench_parses_it(built):
    test = read_jsonl(built / "prodva_cameo" / "default" / "test.jsonl")[0]
    assert test["raw_input"] == "Heme binding; Oxygen transport"
    assert "The designed protein sequence is" not in test["prompt"]
    clap = read_jsonl(built / "prodva_molinst_swissprotclap" / "default" / "test.jsonl")[0]
    assert clap["raw_input"].startswith("1. The protein must bind calcium.")
    assert function_text("x: a; b. The designed protein sequence is ", "as_is") == "x: a; b."


@pytest.mark.parametrize("task", TASKS)
def test_rows_round_trip_and_sequences_are_stripped(built, task):
    for row in read_jsonl(built / task / "default" / "train.jsonl"):
        seq = unwrap(row["output"]).first("protein")
        assert seq and seq == row["raw_output"] and seq == seq.strip()
    for row in read_jsonl(built / task / "default" / "test.jsonl"):
        assert unwrap(row["answer"]).first("protein") == row["references"][0]


def oracle(built: Path) -> OracleBackend:
    return OracleBackend(built, tasks=TASKS, wrap=lambda answer: f"Here is a design: {answer}")


class Folder:
    """Stands in for ESMFold (weights + GPU not here): an ideal helix, pLDDT from the length."""

    def fold(self, sequence):
        t = np.arange(len(sequence))
        ca = np.stack([2.3 * np.cos(t * 1.75), 2.3 * np.sin(t * 1.75), 1.5 * t], axis=1)
        return ca, 50.0 + len(sequence) % 40, 8.0


def test_eval_run_reports_not_computed_without_models_and_scores_with_an_injected_folder(built, tmp_path):
    model = fake_model_dir(tmp_path)
    registry = TaskRegistry()
    tasks = [registry.get(t) for t in TASKS]
    out = tmp_path / "eval"
    summaries = run_eval(tasks, RunOptions(model=model, data_dir=built, out_dir=out, backend="oracle"),
                         backend_factory=lambda: oracle(built))
    cameo = next(s for s in summaries if s["task"] == "prodva_cameo")["metrics"]
    assert cameo["rep"] == pytest.approx(0.0)  # the fixture's gold designs have no tandem repeat
    for name in ("ppl", "plddt", "plddt_gt70_pct", "pae", "protrek", "keyword_recovery_pct"):
        assert cameo[name] is None, name
    results = {m: r for (t, _, m), r in results_by_metric(out).items() if t == "prodva_cameo"}
    assert "ESMFold" in results["plddt"]["reason"] and "ProTrek" in results["protrek"]["reason"]
    assert "InterProScan" in results["keyword_recovery_pct"]["reason"]
    rows = build_rows(load_results(out), load_paper())
    assert {r.metric: r.paper for r in rows if r.task == "prodva_cameo"}["rep"] == pytest.approx(0.07)

    proteins.set_structure_predictor(Folder())
    try:
        again = run_eval(tasks[:1], RunOptions(model=model, data_dir=built, out_dir=tmp_path / "eval2",
                                               backend="oracle"), backend_factory=lambda: oracle(built))
    finally:
        proteins.set_structure_predictor(None)
    folded = again[0]["metrics"]
    assert folded["plddt"] == pytest.approx(np.mean([50 + 34 % 40] * 3 + [50 + 34 % 40] * 3))
    assert folded["pae_lt10_pct"] == pytest.approx(100.0)
