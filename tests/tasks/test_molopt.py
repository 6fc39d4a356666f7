"""MolOpt-Instructions: the sub-task read from the instruction text (rows of other sub-tasks and rows whose
goal cannot be determined are rejects with reasons), molecules found inside free text by RDKit, test rows
whose reference is what correct_loose / correct_strict score, and eval run end to end with an oracle."""

from __future__ import annotations

from pathlib import Path

import pytest

from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.eval.registry import compute
from biomatrix_plugin.modalities.serialization import unwrap
from biomatrix_plugin.tasks.sources.molopt import molecule_in_text, read_goal, subtask_of
from conftest import read_jsonl
from task_testing import build_fixture_tasks, rejects, run_oracle_eval

EVALUATED = ("molopt_qed", "molopt_acceptor", "molopt_donor", "molopt_solubility", "molopt_bbbp", "molopt_herg",
             "molopt_sol_acc", "molopt_qed_bbbp")
TASKS = (*EVALUATED, "molopt_others")
RDKIT_ONLY = ("molopt_qed", "molopt_acceptor", "molopt_donor")  # the others need learned predictors


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("molopt")
    return out, build_fixture_tasks(TASKS, out)


@pytest.mark.parametrize("text, goal, subtask", [
    ("Help me make molecule with the SMILES string CCO more like a drug.", {"qed": 1}, "qed+"),
    ("How can we modify the molecule CCO to decrease its hERG inhibition value while keeping it similar?",
     {"herg": -1}, "herg-"),
    ("How can we modify the molecule CCO to increase its water solubility value and to have more hydrogen bond "
     "acceptors? The output molecule should be similar to the input molecule.", {"esol": 1, "hba": 1},
     "esol+acceptor+"),
    ("How can we modify the molecule X to increase its blood-brain barrier penetration (BBBP) value by at least 0.1 "
     "and increase its QED value by at least 0.1 compared to the pre-optimized value to make it more drug-like?",
     {"qed": 1, "bbbp": 1}, "qed+bbbp+"),
    ("Help me increase the number of hydrogen bond donors in the molecule CCO by at least 2.", {"hbd": 1}, "donor+"),
    ("Please lower the logP of CCCC.", {"logp": -1}, "others"),
])
def test_goal_from_instruction_text(text, goal, subtask):
    assert read_goal(text) == goal
    assert subtask_of(goal) == subtask


@pytest.mark.parametrize("text, why", [
    ("Make CCO better.", "no property"),
    ("What is the QED of CCO?", "no direction"),
    ("Increase the QED of CCO but decrease its drug-likeness.", "conflicting"),
])
def test_undeterminable_goal_is_a_reject(text, why):
    with pytest.raises(RecordRejected, match=why):
        read_goal(text)


def test_molecule_inside_text_is_found_by_parsing():
    assert molecule_in_text("Sure, here is a modified molecule: CC(=O)Nc1ccccc1.", "output").smiles == "CC(=O)Nc1ccccc1"
    # BBBP and "(BBBP)" parse as SMILES but are words
    assert molecule_in_text("increase the (BBBP) value of OCCc1ccccc1?", "x").smiles == "OCCc1ccccc1"
    with pytest.raises(RecordRejected, match="2 different molecules"):
        molecule_in_text("either CCO or CCCO", "x")
    with pytest.raises(RecordRejected, match="no molecule"):
        molecule_in_text("I cannot do that.", "x")


def test_every_row_is_converted_or_rejected_with_its_reason(built):
    out, manifests = built
    for task in TASKS:
        rec = manifests[task]["records"]["train"]
        assert rec["read"] == 15 and rec["converted"] == 1, task  # one row per sub-task in the fixture
    reasons = rejects(out, "molopt_donor")
    # the rows of the other sub-tasks are routed (counted), not rejects: 9 train + 8 test rows
    assert not any("not this task's" in r for r in reasons)
    assert manifests["molopt_donor"]["records"]["train"]["routed"] == 9
    assert manifests["molopt_donor"]["records"]["test"]["routed"] == 8
    for why in ("no property", "no direction", "2 different molecules", "is the input molecule", "no molecule"):
        assert any(why in r for r in reasons), why
    acceptor = (out / "molopt_acceptor" / "rejects.jsonl").read_text()
    assert "instruction: no molecule (no word RDKit parses" in acceptor  # C1CC1X is no SMILES
    assert manifests["molopt_others"]["rows"]["train"]["smiles"]["rows"] == 1
    assert "test" not in manifests["molopt_others"]["rows"]


def test_rows_round_trip_and_the_reference_is_the_optimisation_goal(built):
    out, _ = built
    for task in TASKS:
        for variant in ("smiles", "selfies"):
            for split in ("train", "test"):
                path = out / task / variant / f"{split}.jsonl"
                if not path.exists():
                    continue
                for row in read_jsonl(path):
                    answer = row["output"] if split == "train" else row["answer"]
                    for text in (row["instruction"] + row["input"], answer):
                        parsed = unwrap(text, check_vocabulary=False)
                        assert parsed.segments and all(s.ok and s.modality == variant for s in parsed.segments)
    ref = read_jsonl(out / "molopt_sol_acc" / "smiles" / "test.jsonl")[0]["references"]
    assert ref == [{"molecule": "CCCc1ccccc1", "property": ["hba", "esol"], "direction": ["increase", "increase"],
                    "output": "OCCc1ccncc1"}]
    [others] = read_jsonl(out / "molopt_others" / "smiles" / "train.jsonl")
    assert others["target"] == "decrease logP" and "decrease logP" in others["instruction"]


@pytest.mark.parametrize("task", RDKIT_ONLY)
def test_gold_answers_score_as_correct_with_the_rdkit_oracles(built, task):
    out, _ = built
    for variant in ("smiles", "selfies"):
        rows = read_jsonl(out / task / variant / "test.jsonl")
        refs = [r["references"][0] for r in rows]
        golds = [r["output"] for r in refs]
        loose = compute("correct_loose", golds, refs, notation=variant)
        assert loose.value == 1.0 and loose.n_invalid == 0, (task, variant)
        worse = compute("correct_loose", [r["molecule"] for r in refs], refs, notation=variant)
        assert worse.value == 0.0  # the unchanged input did not move the property
    strict = compute("correct_strict", ["CC(=O)Nc1ccc(C(C)=O)cc1"], [
        {"molecule": "CCCCC(=O)c1ccccc1", "property": ["qed"], "direction": ["increase"]}], notation="smiles")
    assert strict.status == "computed"


def test_learned_properties_are_not_computed_with_the_reason(built):
    out, _ = built
    rows = read_jsonl(out / "molopt_herg" / "smiles" / "test.jsonl")
    refs = [r["references"][0] for r in rows]
    result = compute("correct_loose", [r["output"] for r in refs], refs, notation="smiles")
    assert result.status == "not_computed" and "register_property" in result.reason


def test_eval_run_scores_gold_answers_and_report_lists_the_paper(built, tmp_path):
    from biomatrix_plugin.eval.report import build_rows, load_paper, load_results

    out, _ = built
    res = run_oracle_eval(RDKIT_ONLY, out, tmp_path / "eval", wrap=lambda answer: f"Here it is: {answer}")
    rows = {(r.task, r.variant, r.metric): r for r in build_rows(load_results(res), load_paper())}
    row = rows[("molopt_qed", "smiles", "correct_loose")]
    assert row.ours == pytest.approx(1.0) and row.paper == pytest.approx(0.81)
    assert rows[("molopt_qed", "selfies", "validity_strict")].paper == pytest.approx(0.98)
