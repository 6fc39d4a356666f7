"""ChEBI-20 (MolT5 TSV, PubChem SMILES with doubled backslashes) captioning and generation, and the
training-only KnowMol-100K captioning (one example per annotation level) and generation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biomatrix_plugin.eval.generation import Generation
from biomatrix_plugin.eval.report import build_rows, load_paper, load_results
from biomatrix_plugin.eval.run import RunOptions, run_eval
from biomatrix_plugin.modalities.serialization import unwrap
from biomatrix_plugin.tasks.build import BuildOptions, build_tasks
from biomatrix_plugin.tasks.registry import TaskRegistry
from biomatrix_plugin.tasks.sources.chebi20 import pubchem_smiles

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TASKS = ("chebi20_molcap", "chebi20_molgen", "knowmol_molcap", "knowmol_molgen")


def run_oracle(tasks, built: Path, tmp_path: Path) -> Path:
    """eval run with a backend answering each test prompt with its gold (in words unless the readout is text)."""
    answers = {}
    for task in tasks:
        bare = task["eval"]["readout"] == "text"
        for path in (built / task.id).glob("*/test.jsonl"):
            for row in map(json.loads, path.read_text().splitlines()):
                answers[row["prompt"]] = row["answer"] if bare else f"The answer is {row['answer']}."

    class Oracle:
        def generate(self, prompts, config):
            return [Generation([answers[m[-1]["content"]]]) for m in prompts]

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    out = tmp_path / "eval"
    run_eval(tasks, RunOptions(model=model, data_dir=built, out_dir=out, backend="oracle"), backend_factory=Oracle)
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("chebi")
    manifests = build_tasks([TaskRegistry().get(t) for t in TASKS],
                            BuildOptions(raw_root=FIXTURES, out_dir=out, progress=False, shards=1))
    return out, {m["task"]: m for m in manifests}


def _rows(out: Path, task: str, variant: str, split: str) -> list[dict]:
    return [json.loads(x) for x in (out / task / variant / f"{split}.jsonl").read_text().splitlines()]


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
    targets = [r["target"] for r in _rows(out, "knowmol_molcap", "smiles", "train")]
    assert targets == ["functional groups", "structure", "properties"] * 2
    gen = _rows(out, "knowmol_molgen", "selfies", "train")[0]
    assert "hydroxyl" in gen["instruction"] + gen["input"] and gen["output"].startswith("<|mol_sfi_start|>")


@pytest.mark.parametrize("task", TASKS)
def test_rows_round_trip_through_unwrap(built, task):
    out, _ = built
    for variant in ("smiles", "selfies"):
        for split in ("train", "test"):
            if not (out / task / variant / f"{split}.jsonl").exists():
                continue
            for row in _rows(out, task, variant, split):
                text = row["instruction"] + row["input"] + (row["output"] if split == "train" else row["answer"])
                parsed = unwrap(text, check_vocabulary=False)
                assert len(parsed.segments) == 1 and parsed.segments[0].ok
                assert parsed.segments[0].modality == variant


def test_eval_run_scores_gold_answers_with_no_paper_number(built, tmp_path):
    out, _ = built
    registry = TaskRegistry()
    res = run_oracle([registry.get("chebi20_molgen")], out, tmp_path)
    rows = {(r.task, r.variant, r.metric): r for r in build_rows(load_results(res), load_paper())}
    row = rows[("chebi20_molgen", "selfies", "inchi_match")]
    assert row.ours == pytest.approx(1.0) and row.paper is None  # Table 31 split, no published result (no unit)
