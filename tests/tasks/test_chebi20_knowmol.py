"""ChEBI-20 (MolT5 TSV, PubChem SMILES with doubled backslashes) captioning and generation, and the
training-only KnowMol-100K captioning (one example per annotation level) and generation."""

from __future__ import annotations

import pytest

from biomatrix_plugin.eval.report import build_rows, load_paper, load_results
from biomatrix_plugin.modalities.serialization import unwrap
from biomatrix_plugin.tasks.sources.chebi20 import pubchem_smiles
from conftest import read_jsonl
from task_testing import build_fixture_tasks, run_oracle_eval

TASKS = ("chebi20_molcap", "chebi20_molgen", "knowmol_molcap", "knowmol_molgen")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("chebi")
    return out, build_fixture_tasks(TASKS, out)


def test_doubled_backslash_is_undone_before_canonicalisation():
    from rdkit import Chem

    raw = "C[C@]12CCC(=O)C=C1CC[C@@H]3[C@@H]2C(=O)C[C@]\\\\4([C@H]3CC/C4=C/C(=O)OC)C"
    fixed = pubchem_smiles(raw)
    assert "\\\\" not in fixed and Chem.MolToInchi(Chem.MolFromSmiles(fixed)) == Chem.MolToInchi(
        Chem.MolFromSmiles(raw))


def test_counts_and_rejects(built):
    out, manifests = built
    for task in ("chebi20_molcap", "chebi20_molgen"):
        assert manifests[task]["records"]["train"] == {"read": 6, "converted": 3, "routed": 0, "rejected": 3}
        assert manifests[task]["rows"]["test"]["smiles"]["rows"] == 3
    reasons = (out / "chebi20_molgen" / "rejects.jsonl").read_text()
    for why in ("is not a PubChem CID", "RDKit cannot parse", "description: empty"):
        assert why in reasons
    # KnowMol: three default levels per molecule; a record missing a level's field is rejected, not cut
    assert manifests["knowmol_molcap"]["rows"]["train"]["smiles"]["rows"] == 6
    assert "test" not in manifests["knowmol_molcap"]["rows"]
    assert "no 'property' field" in (out / "knowmol_molcap" / "rejects.jsonl").read_text()
    targets = [r["target"] for r in read_jsonl(out / "knowmol_molcap" / "smiles" / "train.jsonl")]
    assert targets == ["functional groups", "structure", "properties"] * 2
    gen = read_jsonl(out / "knowmol_molgen" / "selfies" / "train.jsonl")[0]
    assert "hydroxyl" in gen["instruction"] + gen["input"] and gen["output"].startswith("<|mol_sfi_start|>")


@pytest.mark.parametrize("task", TASKS)
def test_rows_round_trip_through_unwrap(built, task):
    out, _ = built
    for variant in ("smiles", "selfies"):
        for split in ("train", "test"):
            if not (out / task / variant / f"{split}.jsonl").exists():
                continue
            for row in read_jsonl(out / task / variant / f"{split}.jsonl"):
                text = row["instruction"] + row["input"] + (row["output"] if split == "train" else row["answer"])
                parsed = unwrap(text, check_vocabulary=False)
                assert len(parsed.segments) == 1 and parsed.segments[0].ok
                assert parsed.segments[0].modality == variant


def test_eval_run_scores_gold_answers_with_no_paper_number(built, tmp_path):
    out, _ = built
    res = run_oracle_eval(["chebi20_molgen"], out, tmp_path / "eval")
    rows = {(r.task, r.variant, r.metric): r for r in build_rows(load_results(res), load_paper())}
    row = rows[("chebi20_molgen", "selfies", "inchi_match")]
    assert row.ours == pytest.approx(1.0) and row.paper is None  # Table 31 split, no published result (no unit)
