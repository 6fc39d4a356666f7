"""The USPTO-50K converter on its hand-written fixture (GLN schneider50k layout): atom maps are stripped and
both sides canonicalised (the raw atom order and maps reveal the reaction centre), unmapped leaving-group
atoms are kept, bad rows are rejects with their reason, repeated products pool their golds, and `eval run`
scores the gold reactants perfectly (no paper number: the report gives none)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import selfies as sf
from rdkit import Chem

from biomatrix_plugin.eval.report import build_rows, load_paper, load_results
from biomatrix_plugin.modalities.serialization import unwrap
from biomatrix_plugin.tasks.sources.uspto import strip_atom_maps
from conftest import read_jsonl
from task_testing import build_fixture_tasks, rejects, run_oracle_eval

TASK = "uspto50k_retrosynthesis"
TRAIN_REJECTS = ["class: '11' is not a reaction type 1-10", "product: empty reaction side",
                 "reagents: 'CO' is not empty", "reactants: SMILES '[CH3][C](=[O])[O]C(': RDKit cannot parse it"]
TEST_REJECTS = ["0 '>' in 'no reaction here'"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uspto_out")
    build_fixture_tasks(TASK, out)
    return out


def test_counts_and_rejects(built):
    manifest = json.loads((built / TASK / "manifest.json").read_text())
    assert manifest["records"]["train"] == {"read": 7, "converted": 3, "routed": 0, "rejected": 4}
    assert manifest["records"]["test"] == {"read": 4, "converted": 3, "routed": 0, "rejected": 1}
    assert manifest["table31"] == {"train": 40008, "test": 5007}
    reasons = {s: rejects(built, TASK, s) for s in ("train", "test")}
    for split, wanted in (("train", TRAIN_REJECTS), ("test", TEST_REJECTS)):
        assert len(reasons[split]) == len(wanted)
        for want in wanted:
            assert any(want in r for r in reasons[split]), (want, reasons[split])


def test_atom_maps_are_gone_and_leaving_groups_kept(built):
    rows = read_jsonl(built / TASK / "smiles" / "train.jsonl")
    assert not any(re.search(r":\d+\]", json.dumps(r)) for r in rows)
    pairs = {(r["raw_input"], r["raw_output"]) for r in rows}
    assert ("CC(=O)Nc1ccccc1", "CC(=O)Cl.Nc1ccccc1") in pairs  # the unmapped Cl of acetyl chloride stays
    assert ("NCCO", "CC(C)(C)OC(=O)NCCO") in pairs  # the unmapped Boc group stays
    # the strip is the same as RDKit's SetAtomMapNum(0) on every atom
    mapped = "[CH3:1][C:2](=[O:3])[NH:4][c:5]1[cH:6][cH:7][cH:8][cH:9][cH:10]1"
    mol = Chem.MolFromSmiles(mapped)
    for atom in mol.GetAtoms():
        atom.SetAtomMapNum(0)
    assert Chem.MolToSmiles(Chem.MolFromSmiles(strip_atom_maps(mapped))) == Chem.MolToSmiles(mol)


def test_the_raw_atom_order_does_not_survive(built):
    # the two test rows write the same product in different mapped atom orders: one canonical input
    rows = read_jsonl(built / TASK / "smiles" / "test.jsonl")
    assert rows[0]["raw_input"] == rows[1]["raw_input"] == "CC(=O)Nc1ccccc1"
    assert rows[0]["references"] == rows[1]["references"] == ["CC(=O)Cl.Nc1ccccc1", "CC(=O)OC(C)=O.Nc1ccccc1"]


@pytest.mark.parametrize("variant", ["smiles", "selfies"])
def test_rows_round_trip_through_unwrap(built, variant):
    for split in ("train", "test"):
        for row in read_jsonl(built / TASK / variant / f"{split}.jsonl"):
            parsed = unwrap(row["instruction"] + row["input"] + (row.get("output") or row["answer"]),
                            check_vocabulary=False)
            assert not parsed.errors and {s.modality for s in parsed.segments} == {variant}
            values = [s.value if variant == "smiles" else sf.decoder(s.value) for s in parsed.segments]
            golds = [row["raw_output"]] if split == "train" else row["raw_references"]
            assert len(values) == 2 and Chem.CanonSmiles(values[0]) == Chem.CanonSmiles(row["raw_input"])
            assert Chem.CanonSmiles(values[1]) in {Chem.CanonSmiles(g) for g in golds}


def test_gold_reactants_score_perfectly_and_the_report_lists_the_task(built, tmp_path):
    out = run_oracle_eval(TASK, built, tmp_path / "out", wrap=lambda answer: f"Reactants: {answer}")
    results = load_results(out)
    assert {(r["variant"], r["metric"]) for r in results} == {
        (v, m) for v in ("smiles", "selfies") for m in ("inchi_match", "fts", "validity")}
    assert all(r["value"] == pytest.approx(1.0) and r["n_items"] == 3 for r in results)
    rows = [r for r in build_rows(results, load_paper()) if r.task == TASK]
    assert rows and all(r.paper is None and r.ours == pytest.approx(1.0) for r in rows)
