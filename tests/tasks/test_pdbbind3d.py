"""PDBbind v2020 3D affinity on its fixture (tests/tasks/fixtures/pdbbind2020: EquiBind split files, the
INDEX file, real ligand SDFs and real 2GTL residues as pockets, precomputed codes): ligand poses become
MolStrucTok joint tokens (real checkpoint; skipped, naming it, where absent), pockets their precomputed
GCP-VQVAE codes, the label -logKd/Ki; missing index entries / codes / folders are rejects naming the complex;
`eval run` scores the gold answers perfectly and the report lists Table 29."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biomatrix_plugin.errors import InputFileError
from biomatrix_plugin.modalities.serialization import unwrap
from biomatrix_plugin.tasks.sources.pdbbind import parse_index
from conftest import molstructok_checkpoint_path, read_jsonl
from task_testing import FIXTURES, build_fixture_tasks, rejects, results_by_metric, run_oracle_eval

TASK = "pdbbind2020_affinity_3d"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    molstructok_checkpoint_path()  # skips, naming where the checkpoint was looked for
    out = tmp_path_factory.mktemp("pdbbind_out")
    build_fixture_tasks(TASK, out)
    return out


def test_rejects_name_the_complex_and_the_reason(built):
    reasons = sorted(rejects(built, TASK))
    assert reasons == [
        "4nox: not in the affinity index (INDEX_general_PL_data.2020)",
        "5noc: structure 5noc_pocket.pdb chain A: no precomputed codes for pid 5noc_pocket_chain_id_A in "
        "vq_indices.csv",
        "8nol: no complex folder under v2020-other-PL, refined-set"]
    manifest = json.loads((built / TASK / "manifest.json").read_text())
    # train + val split files
    assert manifest["records"]["train"] == {"read": 6, "converted": 3, "routed": 0, "rejected": 3}
    assert manifest["records"]["test"] == {"read": 2, "converted": 2, "routed": 0, "rejected": 0}
    assert manifest["table31"] == {"train": 18013, "test": 359}


def test_rows_carry_ligand_tokens_pocket_codes_and_the_label(built):
    from biomatrix_plugin.mol3d import decode

    codes = {}
    for line in (FIXTURES / "pdbbind2020" / "vq_indices.csv").read_text().splitlines()[1:]:
        pid, indices, _ = line.split(",")
        codes[pid.split("_")[0]] = [int(c) for c in indices.split()]
    train = read_jsonl(built / TASK / "default" / "train.jsonl")
    assert sorted(r["output"] for r in train) == ["6.00 pK", "7.52 pK", "8.10 pK"]
    assert {r["raw_output"] for r in train} >= {"7.52 (Ki=30nM)", "8.1 (IC50=8nM)"}
    for row in train + read_jsonl(built / TASK / "default" / "test.jsonl"):
        parsed = unwrap(row["instruction"], check_vocabulary=False)
        assert not parsed.errors, parsed.errors
        by_kind = {s.modality: s.value for s in parsed.segments}
        assert set(by_kind) == {"mol3d", "prot3d"}
        pdb = json.loads(row["raw_input"])["pdb"]
        assert list(by_kind["prot3d"]) == codes[pdb]
        mol = decode(by_kind["mol3d"])  # the joint tokens decode back to a 3D molecule
        assert mol.GetNumConformers() == 1 and mol.GetNumAtoms() > 20
    test = read_jsonl(built / TASK / "default" / "test.jsonl")
    assert sorted(r["references"][0] for r in test) == [4.7, 9.0]


def test_index_parsing_and_missing_inputs(tmp_path):
    index = tmp_path / "INDEX"
    index.write_text("# comment\n1abc  2.00  2010   7.52  Ki=30nM  // 1abc.pdf (X)\n\n2xyz 1.5 2001\n")
    with pytest.raises(InputFileError, match=r"INDEX:4: expected 'pdb resolution year -logKd/Ki Kd/Ki'"):
        parse_index(str(index))
    index.write_text("1ABC  2.00  2010   7.52  Ki=30nM  // 1abc.pdf (X)\n")
    assert parse_index(str(index)) == {"1abc": [7.52, "Ki=30nM"]}
    import shutil

    raw = tmp_path / "raw"
    shutil.copytree(FIXTURES / "pdbbind2020", raw / "pdbbind2020")
    (raw / "pdbbind2020" / "vq_indices.csv").unlink()
    with pytest.raises(InputFileError, match="precomputed structure codes .* not found; encode the pockets"):
        build_fixture_tasks(TASK, tmp_path / "o", raw_root=raw)


def test_eval_run_scores_gold_perfectly_and_report_lists_table29(built, tmp_path):
    from biomatrix_plugin.cli import main

    out = run_oracle_eval(TASK, built, tmp_path / "eval", wrap=lambda answer: f"pK = {answer}")
    results = {m: r["value"] for (_, _, m), r in results_by_metric(out).items()}
    assert results["rmse"] == pytest.approx(0.0, abs=1e-9) and results["mae"] == pytest.approx(0.0, abs=1e-9)
    assert results["pearson"] == pytest.approx(1.0) and results["spearman"] == pytest.approx(1.0)
    assert main(["eval", "report", str(out)]) == 0
    report = (out / "report.md").read_text()
    for metric, paper in (("rmse ↓", "1.26"), ("pearson ↑", "0.737"), ("spearman ↑", "0.712"), ("mae ↓", "0.972")):
        assert f"| {TASK} | default | {metric} |" in report and paper in report, report
