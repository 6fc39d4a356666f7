"""The S²-Bench (TOMG-Bench / OpenMolIns) converter on its hand-written fixture (published HF layout): the
input molecule is found inside the free-text instruction by RDKit (also where the generator swapped the
slots), bad rows are rejects with their reason, test rows carry the reference objects the molecule-design
metrics take, and `eval run` scores correct answers as successes next to the paper's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import selfies as sf
from rdkit import Chem

from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.eval.report import build_rows, load_paper, load_results
from biomatrix_plugin.modalities.serialization import unwrap, wrap_selfies, wrap_smiles
from biomatrix_plugin.tasks.converters import PrepareContext
from biomatrix_plugin.tasks.registry import TaskRegistry
from biomatrix_plugin.tasks.sources import s2bench
from conftest import read_jsonl
from task_testing import OracleBackend, build_fixture_tasks, run_oracle_eval

TASKS = ("s2bench_edit_addcomp", "s2bench_edit_delcomp", "s2bench_edit_subcomp", "s2bench_custom_atomnum",
         "s2bench_custom_bondnum", "s2bench_custom_funcgroup", "s2bench_opt_logp", "s2bench_opt_mr",
         "s2bench_opt_qed")
TRAIN_ROWS = 22  # the fixture's train.csv: every task reads all of it
# task -> (train rows of its own sub-task kept, its own train reject reasons, test rows kept, test reject reasons)
EXPECTED = {
    "s2bench_custom_atomnum": (2, ["unknown atom type 'unobtainium'"], 2, ["carbon 4 vs column 5"]),
    "s2bench_custom_bondnum": (2, [], 2, ["double: 'two' is not a count"]),
    "s2bench_custom_funcgroup": (2, ["no '<n> <group type> groups' constraint"], 2,
                                 ["unknown group type 'peroxide'"]),
    "s2bench_edit_addcomp": (2, ["no token RDKit parses as a molecule", "molecule: SMILES 'C(C': RDKit cannot"], 2,
                             ["Instruction names 'CCN' but the molecule column is 'CCO'",
                              "added_group: 'amine' but the Instruction names 'thiol'"]),
    "s2bench_edit_delcomp": (2, [], 2, ["no token RDKit parses as a molecule"]),
    "s2bench_edit_subcomp": (2, ["1 group names (hydroxyl)"], 2, ["substitutes hydroxyl with itself"]),
    "s2bench_opt_logp": (1, ["does not name LogP"], 2, ["neither lower/decrease and higher/increase"]),
    "s2bench_opt_mr": (1, [], 2, ["no token RDKit parses as a molecule in 'Modify the molecule XYZ"]),
    "s2bench_opt_qed": (1, [], 2, ["does not name QED"]),
}
# a correct answer (canonical SMILES) for each kept test row, by the row's raw_input
ORACLE = {
    '{"added_group": "hydroxyl", "molecule": "CCc1ccccc1"}': "CCc1ccc(O)cc1",
    '{"added_group": "benzene ring", "molecule": "CC(C)C"}': "CC(C)Cc1ccccc1",
    '{"molecule": "CCc1ccccc1", "removed_group": "benzene ring"}': "CC",
    '{"molecule": "ClCCCBr", "removed_group": "halo"}': "CCCCl",
    '{"added_group": "nitrile", "molecule": "OCCc1ccccc1", "removed_group": "hydroxyl"}': "N#CCCc1ccccc1",
    '{"added_group": "hydroxyl", "molecule": "OCCCl", "removed_group": "halo"}': "OCCO",
    "2 carbon atoms and 1 oxygen atom": "COC",  # not a training target: novelty > 0
    "3 carbon atoms, 1 oxygen atom and 1 nitrogen atom": "NCCC=O",
    "6 aromatic bonds": "c1ccccc1",
    "1 triple bond and 1 single bond": "CC#N",
    "1 benzene ring group and 1 hydroxyl group": "Oc1ccccc1",
    "2 hydroxyl groups": "OCCO",
    '{"direction": "lower", "molecule": "CCCCO"}': "OCCCO",
    '{"direction": "higher", "molecule": "CCO"}': "CCCCO",
    '{"direction": "higher", "molecule": "CCCC"}': "CCCCC",
    '{"direction": "lower", "molecule": "CCCCC"}': "CCCC",
    '{"direction": "higher", "molecule": "CCCCCCCCCCCCCCCC"}': "CC(=O)Nc1ccc(O)cc1",
    '{"direction": "lower", "molecule": "CC(=O)Nc1ccc(O)cc1"}': "CCCCCCCCCCCCCCCC",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("s2bench_out")
    build_fixture_tasks(TASKS, out)
    return out


def _canon(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


@pytest.mark.parametrize("task_id", TASKS)
def test_counts_and_rejects_name_their_reason(built, task_id):
    kept_train, train_reasons, kept_test, test_reasons = EXPECTED[task_id]
    manifest = json.loads((built / task_id / "manifest.json").read_text())
    own_train = len(train_reasons)
    # the other sub-tasks' rows of the shared train.csv are routed (counted), not rejects
    assert manifest["records"]["train"] == {"read": TRAIN_ROWS, "converted": kept_train,
                                            "routed": TRAIN_ROWS - kept_train - own_train, "rejected": own_train}
    assert manifest["records"]["test"]["converted"] == kept_test
    assert manifest["rows"]["train"]["smiles"]["rows"] == manifest["rows"]["train"]["selfies"]["rows"] == kept_train
    assert manifest["table31"]["test"] == 5000
    rejects = read_jsonl(built / task_id / "rejects.jsonl")
    assert not any("another sub-task's row" in r["reason"] for r in rejects)
    own = {"train": [r["reason"] for r in rejects if r["split"] == "train"],
           "test": [r["reason"] for r in rejects if r["split"] == "test"]}
    assert len(own["train"]) == len(train_reasons) and len(own["test"]) == len(test_reasons), own
    for split, wanted in (("train", train_reasons), ("test", test_reasons)):
        for want in wanted:
            assert any(want in reason for reason in own[split]), (want, own[split])


@pytest.mark.parametrize("task_id", TASKS)
def test_rows_round_trip_and_show_the_instructions_molecule(built, task_id):
    task = TaskRegistry().get(task_id)
    has_molecule = "fields" in task["input"]
    for variant in ("smiles", "selfies"):
        for split in ("train", "test"):
            for row in read_jsonl(built / task_id / variant / f"{split}.jsonl"):
                text = row["instruction"] + (row.get("output") or "")
                parsed = unwrap(text, check_vocabulary=False)
                assert not parsed.errors, (row, parsed.errors)
                assert {s.modality for s in parsed.segments} <= {variant}
                values = [s.value if variant == "smiles" else sf.decoder(s.value) for s in parsed.segments]
                expected = [json.loads(row["raw_input"])["molecule"]] if has_molecule else []
                if split == "train":
                    expected.append(row["raw_output"])
                assert [_canon(v) for v in values] == [_canon(e) for e in expected], row


def test_swapped_slots_still_find_the_molecule_and_the_groups(built):
    # "Modify the molecule nitro by removing a O=[N+]([O-])c1ccccc1C." (the generator's slot bug)
    rows = read_jsonl(built / "s2bench_edit_delcomp" / "smiles" / "train.jsonl")
    keys = [json.loads(r["raw_input"]) for r in rows]
    assert {"molecule": "Cc1ccccc1[N+](=O)[O-]", "removed_group": "nitro"} in keys
    sub = [json.loads(r["raw_input"]) for r in read_jsonl(built / "s2bench_edit_subcomp" / "smiles" / "train.jsonl")]
    assert {"molecule": "CC(C)CO", "removed_group": "hydroxyl", "added_group": "nitrile"} in sub


def test_test_rows_carry_the_metrics_reference_objects(built):
    add = read_jsonl(built / "s2bench_edit_addcomp" / "selfies" / "test.jsonl")
    assert add[1]["references"] == [{"molecule": "<|mol_smi_start|>CC(C)C<|mol_smi_end|>",
                                     "added_group": "benzene ring"}]
    assert add[1]["answer"] == ""  # no gold molecule: the benchmark checks the edit, the reference is its input
    assert "<|mol_sfi_start|>" in add[1]["instruction"]  # the prompt is in the variant's notation
    delete = read_jsonl(built / "s2bench_edit_delcomp" / "smiles" / "test.jsonl")
    assert delete[0]["references"][0]["removed_group"] == "benzene ring"  # benchmark writes benzene_ring
    atoms = read_jsonl(built / "s2bench_custom_atomnum" / "smiles" / "test.jsonl")[1]["references"][0]
    assert list(atoms) == list(s2bench.ELEMENTS) and (atoms["carbon"], atoms["nitrogen"], atoms["sulfur"]) == (3, 1, 0)
    groups = read_jsonl(built / "s2bench_custom_funcgroup" / "smiles" / "test.jsonl")[0]["references"][0]
    assert "thioether" not in groups and groups["benzene rings"] == 1 and len(groups) == 18
    qed = read_jsonl(built / "s2bench_opt_qed" / "smiles" / "test.jsonl")
    assert [r["references"][0]["direction"] for r in qed] == ["increase", "decrease"]
    assert all(r["references"][0]["property"] == "QED" for r in qed)


def test_instruction_parsing_helpers():
    mol, token = s2bench.find_molecule("Please add a hydroxyl to the molecule CCc1ccccc1.")
    assert (mol.smiles, token) == ("CCc1ccccc1", "CCc1ccccc1")
    with pytest.raises(RecordRejected, match="2 molecules"):
        s2bench.find_molecule("Add CCO to the molecule c1ccccc1.")
    assert s2bench.edit_groups("substitute a benzene_ring in X with a halo") == ["benzene ring", "halo"]
    assert s2bench.direction("Modify the molecule CCO to decrease its LogP value.", "LogP") == "lower"
    counts = s2bench.custom_counts("The molecule has and 2 benzene rings groups, and 1 amine group.",
                                   "FunctionalGroup")
    assert counts == {"benzene rings": 2, "amine": 1}
    assert s2bench.constraint_phrase(counts, "FunctionalGroup") == "2 benzene ring groups and 1 amine group"
    with pytest.raises(RecordRejected, match="not a AtomNum constraint"):
        s2bench.custom_counts("Please generate a molecule with 2 double bonds.", "AtomNum")


def test_prepare_refuses_two_openmolins_scales(tmp_path):
    task = TaskRegistry().get("s2bench_edit_addcomp")
    good = {"train": [tmp_path / "OpenMolIns-xlarge" / "train.csv"],
            "MolEdit_AddComponent": [tmp_path / "S2-TOMG-Bench" / "MolEdit_AddComponent.csv"]}
    ctx = PrepareContext(task.id, task.data, tmp_path, task["source"]["options"], good)
    assert s2bench.prepare_s2bench(ctx)["files"]["train"] == ["OpenMolIns-xlarge/train.csv"]
    two = dict(good, train=[tmp_path / "OpenMolIns-light" / "train.csv", *good["train"]])
    with pytest.raises(s2bench.S2BenchLayoutError, match="exactly one file in a folder named 'OpenMolIns-xlarge'"):
        s2bench.prepare_s2bench(PrepareContext(task.id, task.data, tmp_path, task["source"]["options"], two))


def correct_molecule_oracle(built: Path) -> OracleBackend:
    """Answers each test prompt with a correct molecule (ORACLE) wrapped in the prompt's notation."""
    answers = {}
    for path in built.glob("*/*/test.jsonl"):
        variant = path.parent.name
        for row in read_jsonl(path):
            smiles = ORACLE[row["raw_input"]]
            wrapped = wrap_smiles(smiles) if variant == "smiles" else wrap_selfies(sf.encoder(smiles))
            answers[row["instruction"]] = f"Here is the molecule: {wrapped}"
    return OracleBackend(answers)


def _score(results: dict) -> None:
    for (task, variant, metric), res in results.items():
        if metric.endswith("_sr"):
            assert res["value"] == pytest.approx(1.0), (task, variant, res)
        else:  # WSR = SR x mean similarity (edit, opt) or novelty (custom): below 1, above 0 here
            assert 0.0 < res["value"] < 1.0, (task, variant, res)
        assert res["n_items"] == 2 and res["n_invalid"] == 0


def test_the_metrics_score_correct_answers_against_the_built_references(built):
    """Each row's reference object as the metric takes it (one object per row) and the oracle's answers read
    out as `eval run` reads them: every success rate is 1."""
    from biomatrix_plugin.eval.readout import ReadoutSpec, read_out
    from biomatrix_plugin.eval.registry import compute
    from biomatrix_plugin.eval.run import metric_options

    registry = TaskRegistry()
    oracle = correct_molecule_oracle(built)
    results = {}
    for task_id in TASKS:
        task = registry.get(task_id)
        for variant in task.variants:
            rows = read_jsonl(built / task_id / variant / "test.jsonl")
            spec = ReadoutSpec.for_task(task.data, variant)
            answers = [read_out(oracle.answer(r["instruction"]), spec).value for r in rows]
            train = [read_out(r["output"], spec).value for r in read_jsonl(built / task_id / variant / "train.jsonl")]
            for metric in task["eval"]["metrics"]:
                refs = [r["references"][0] for r in rows]
                needs_train = metric["name"] == "custom_wsr"
                res = compute(metric["name"], answers, refs, train if needs_train else None,
                              **metric_options(metric, variant))
                results[(task_id, variant, metric["name"])] = res.to_dict()
    assert len(results) == len(TASKS) * 2 * 2
    _score(results)


def test_eval_run_scores_correct_answers_and_the_report_shows_the_paper(built, tmp_path):
    out = run_oracle_eval(TASKS, built, tmp_path / "out", oracle=correct_molecule_oracle(built), batch_size=4)
    results = {(r["task"], r["variant"], r["metric"]): r for r in load_results(out)}
    assert len(results) == len(TASKS) * 2 * 2
    _score(results)
    rows = {(r.task, r.variant, r.metric): r for r in build_rows(load_results(out), load_paper())}
    assert rows[("s2bench_edit_addcomp", "smiles", "edit_sr")].paper == pytest.approx(0.9294)
    assert rows[("s2bench_custom_atomnum", "selfies", "custom_wsr")].paper == pytest.approx(0.0184)
