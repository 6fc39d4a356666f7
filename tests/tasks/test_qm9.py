"""QM9-2014 (NExT-Mol protocol): the split, the converter on the fixture (rows, rejects with reasons), a build,
each row's joint tokens round-tripping through unwrap, and `eval run` + `eval report` with an injected oracle
backend. MolStrucTok encodes every answer, so the build tests skip where its checkpoint is absent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from biomatrix_plugin.errors import ConfigError
from biomatrix_plugin.eval.readout import ReadoutSpec, read_out
from biomatrix_plugin.modalities.serialization import unwrap
from biomatrix_plugin.tasks.registry import TaskRegistry
from biomatrix_plugin.tasks.sources import qm9
from biomatrix_plugin.tasks.spec import Task
from conftest import molstructok_checkpoint_path, read_jsonl
from task_testing import FIXTURES, OracleBackend, build_fixture_tasks, results_by_metric, run_oracle_eval

CONDITIONAL = tuple(f"qm9_conditional_{p}" for p in qm9.PROPERTIES)
# the fixture holds 19 characterized molecules: a train split of 10 and a test fraction of 0.2 (3 molecules)
FIXTURE_OPTIONS = {"train_size": 10, "test_fraction": 0.2, "test_rows": None}


def fixture_task(task_id: str, **options) -> Task:
    task = TaskRegistry().get(task_id)
    data = json.loads(json.dumps(task.data))
    data["source"]["options"].update(FIXTURE_OPTIONS, **options)
    return Task(task.id, task.path, data)


def nextmol_split(n: int, train: int, test_fraction: float) -> tuple[list, list, list]:
    """NExT-Mol's get_idx_split, written out as there (global seed, then np.split)."""
    test = int(test_fraction * n)
    valid = n - (train + test)
    np.random.seed(0)
    perm = np.random.permutation(n)
    a, b, c, _ = np.split(perm, [train, train + valid, train + valid + test])
    return a.tolist(), b.tolist(), c.tolist()


def gdb_of_split_id(split_id: int, skipped=(5,)) -> str:
    index = split_id + 1
    for s in sorted(skipped):
        if index >= s:
            index += 1
    return f"gdb_{index}"


# ---------------------------------------------------------------- the split, no checkpoint needed

def test_split_sizes_are_nextmols():
    assert qm9.split_sizes(130_831) == (100_000, 17_748, 13_083)
    with pytest.raises(ConfigError, match="train_size"):
        qm9.split_sizes(1000)


def test_split_table_is_nextmols_permutation_and_edms_half():
    which, rank, second = qm9.split_table(130_831, 100_000, 0.1, 0, 42)
    train, valid, test = nextmol_split(130_831, 100_000, 0.1)
    assert np.flatnonzero(which == 0).tolist() == sorted(train)
    assert np.flatnonzero(which == 2).tolist() == sorted(test)
    assert len(valid) == 17_748 and int((which == 1).sum()) == 17_748
    assert [int(rank[i]) for i in test[:5]] == [0, 1, 2, 3, 4]  # test rows = the permutation's order
    np.random.seed(42)
    half = np.random.permutation(100_000)[50_000:]
    assert sorted(np.flatnonzero(second).tolist()) == sorted(np.asarray(train)[half].tolist())
    assert int(second.sum()) == 50_000 and not second[which != 0].any()


def test_uncharacterized_is_read_as_pyg_reads_it(tmp_path):
    assert qm9.read_uncharacterized(FIXTURES / "qm9/raw/uncharacterized.txt") == [5]
    bad = tmp_path / "uncharacterized.txt"
    bad.write_text("\n".join(["header"] * 9 + ["  not-a-number  x", "====", ""]))
    with pytest.raises(Exception, match="expected a gdb index"):
        qm9.read_uncharacterized(bad)


def test_sdf_names_must_follow_file_order(tmp_path):
    assert qm9.scan_sdf_names(FIXTURES / "qm9/raw/gdb9.sdf") == 20
    text = (FIXTURES / "qm9/raw/gdb9.sdf").read_text().replace("gdb_3\n", "gdb_30\n", 1)
    (tmp_path / "gdb9.sdf").write_text(text)
    with pytest.raises(Exception, match="record 3 is named 'gdb_30'"):
        qm9.scan_sdf_names(tmp_path / "gdb9.sdf")


def test_property_values_use_the_task_units():
    row = {"homo": "-0.2530", "mu": "-0.0000", "cv": "6.469", "alpha": "13.21"}
    assert qm9.property_value(row, "homo", "gdb_1") == (-6884.0, "-6884")  # Hartree -> whole meV
    assert qm9.property_value(row, "mu", "gdb_1") == (0.0, "0.0000")
    assert qm9.property_value(row, "cv", "gdb_1")[1] == "6.469"
    with pytest.raises(Exception, match="no row in gdb9.sdf.csv"):
        qm9.property_value(None, "homo", "gdb_9")


def test_every_qm9_task_file_parses_with_the_papers_numbers():
    registry = TaskRegistry()
    expected = {"mu": 0.211, "alpha": 0.47, "cv": 0.288, "homo": 57, "lumo": 54, "gap": 81}
    for prop, value in expected.items():
        task = registry.get(f"qm9_conditional_{prop}")
        assert task["paper"]["results"] == {"default": {"property_mae": value}}
        assert task["source"]["options"]["property"] == prop and task["source"]["options"]["train_half"] == "second"
        unit = qm9.PROPERTIES[prop].unit
        assert all(f"{{input}} {unit}" in p for p in task.prompts), prop  # the one unit, in every prompt
    uncond = registry.get("qm9_unconditional")
    assert uncond["paper"]["results"]["default"]["atom_stability"] == 0.897
    assert uncond.group == "vmol3d" and uncond["eval"]["decoding"]["mode"] == "sample"


# ---------------------------------------------------------------- build on the fixture (MolStrucTok)

@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    molstructok_checkpoint_path()
    out = tmp_path_factory.mktemp("qm9_built")
    tasks = [fixture_task("qm9_unconditional"), fixture_task("qm9_conditional_homo"),
             fixture_task("qm9_conditional_mu")]
    build_fixture_tasks(tasks, out)
    return out


def _rejects(built: Path, task: str) -> dict[tuple[str, str], str]:
    return {(r["split"], r["reason"].split(":")[0]): r["reason"] for r in read_jsonl(built / task / "rejects.jsonl")
            if not r["reason"].startswith("split:")}


def test_unconditional_rows_follow_the_split_and_rejects_say_why(built):
    train = read_jsonl(built / "qm9_unconditional/default/train.jsonl")
    test = read_jsonl(built / "qm9_unconditional/default/test.jsonl")
    tr, _, te = nextmol_split(19, 10, 0.2)
    # gdb_12 (two fragments) and gdb_16 (pentavalent carbon) are train molecules the converter rejects
    assert sorted(r["raw_input"] for r in train) == sorted(set(map(gdb_of_split_id, tr)) - {"gdb_12", "gdb_16"})
    assert sorted(r["raw_input"] for r in test) == sorted(map(gdb_of_split_id, te))  # rows in file order
    reasons = _rejects(built, "qm9_unconditional")
    assert "fails RDKit sanitisation" in reasons[("train", "molblock")]
    assert "disconnected fragments" in reasons[("train", "molstructok")]
    assert "uncharacterized.txt" in reasons[("train", "uncharacterized")]
    manifest = json.loads((built / "qm9_unconditional/manifest.json").read_text())
    assert manifest["rows"]["train"]["default"]["rows"] == 8 and manifest["table31"] == {"train": 97834, "test": 10000}
    for row in train:
        assert row["input"] == "" and row["instruction"] in TaskRegistry().get("qm9_unconditional").prompts
        found = unwrap(row["output"])
        assert found.first("mol3d") == row["raw_output"]
    for row in test:  # the reference set of the 3D metrics: the test molecule's geometry as a MOL block
        assert len(row["references"]) == 1 and "M  END" in row["references"][0]


def test_conditional_rows_state_the_target_in_the_unit(built):
    train = read_jsonl(built / "qm9_conditional_homo/default/train.jsonl")
    test = read_jsonl(built / "qm9_conditional_homo/default/test.jsonl")
    tr, _, te = nextmol_split(19, 10, 0.2)
    np.random.seed(42)
    second = {gdb_of_split_id(tr[k]) for k in np.random.permutation(10)[5:]}
    assert {r["raw_input"] for r in train} == second - {"gdb_16", "gdb_20"}  # broken, no csv row
    assert sorted(r["raw_input"] for r in test) == sorted(set(map(gdb_of_split_id, te)) - {"gdb_17"})
    csv = {line.split(",")[0]: line.split(",") for line in
           (FIXTURES / "qm9/raw/gdb9.sdf.csv").read_text().splitlines()[1:]}
    for row in test:
        mev = round(float(csv[row["raw_input"]][6]) * 27211.386246)
        assert row["references"] == [str(mev)] and f"= {mev} meV." in row["instruction"]
        assert unwrap(row["answer"]).first("mol3d") == row["raw_references"][0]
    reasons = _rejects(built, "qm9_conditional_homo")
    assert reasons[("test", "homo")] == "homo: 'n/a' of gdb_17 is not a number"
    assert reasons[("train", "homo")] == "homo: gdb_20 has no row in gdb9.sdf.csv"
    # gdb_17's homo is bad, its mu is not: the mu task keeps it
    assert len(read_jsonl(built / "qm9_conditional_mu/default/test.jsonl")) == 3


def test_test_rows_caps_the_evaluated_molecules(tmp_path):
    molstructok_checkpoint_path()
    build_fixture_tasks([fixture_task("qm9_unconditional", test_rows=2)], tmp_path)
    _, _, te = nextmol_split(19, 10, 0.2)
    kept = {r["raw_input"] for r in read_jsonl(tmp_path / "qm9_unconditional/default/test.jsonl")}
    assert kept == {gdb_of_split_id(i) for i in te[:2]}  # the first two in permutation order
    # the other test molecules are routed (counted), not rejects
    manifest = json.loads((tmp_path / "qm9_unconditional/manifest.json").read_text())
    assert manifest["records"]["test"]["routed"] >= len(te) - 2
    rejects = read_jsonl(tmp_path / "qm9_unconditional/rejects.jsonl")
    assert not any("beyond the 2 evaluated" in r["reason"] for r in rejects)


# ---------------------------------------------------------------- readout and eval run

def test_read_mol3d_decodes_to_a_molblock_or_says_why(built):
    row = read_jsonl(built / "qm9_unconditional/default/test.jsonl")[0]
    spec = ReadoutSpec("mol3d")
    out = read_out(f"Here it is: {row['answer']}", spec)
    assert out.reason is None and "M  END" in out.value and " H " in out.value
    assert read_out("no molecule here", spec).reason == "no mol3d segment"
    assert "malformed" in read_out("<|mol_3d_start|>[C 1][C", spec).reason
    assert read_out("", spec).reason == "empty"


def test_missing_checkpoint_is_one_config_error(monkeypatch, tmp_path):
    from biomatrix_plugin.mol3d import tokenizer

    monkeypatch.setenv("BIOMATRIX_MOLSTRUCTOK_CKPT", str(tmp_path / "missing.bin"))
    tokenizer.get_tokenizer.cache_clear()  # the one cache of loaded tokenizers (readout and build use it)
    try:
        with pytest.raises(ConfigError, match="MolStrucTok checkpoint"):
            read_out("<|mol_3d_start|>[H 3][O 26][H 304]<|mol_3d_end|>", ReadoutSpec("mol3d"))
        with pytest.raises(ConfigError, match="MolStrucTok checkpoint"):  # the build stops before any record
            build_fixture_tasks([fixture_task("qm9_conditional_mu")], tmp_path / "out")
    finally:
        tokenizer.get_tokenizer.cache_clear()


def oracle(built: Path) -> OracleBackend:
    """Answers each prompt with a gold joint-token answer of the test rows that ask it, in words; rows that
    share a prompt (every unconditional row) get their golds in turn, so the generated set is the test set."""
    return OracleBackend(built, wrap=lambda answer: f"Sure: {answer}", in_turn=True)


def test_eval_run_scores_the_gold_structures_and_the_report_lists_the_paper(built, tmp_path):
    from biomatrix_plugin.cli import main

    out = run_oracle_eval(["qm9_unconditional", "qm9_conditional_homo"], built, tmp_path / "eval",
                          oracle=oracle(built))
    results = {(task, metric): r for (task, _, metric), r in results_by_metric(out).items()}
    for metric in ("atom_stability", "mol_stability", "validity_3d", "bond_length_mmd", "bond_angle_mmd",
                   "dihedral_mmd"):
        r = results[("qm9_unconditional", metric)]
        assert r["readout"]["unreadable"] == 0 and r["n_items"] == 3, metric
    # decoded gold structures of the fixture's small molecules are stable and valid
    assert results[("qm9_unconditional", "validity_3d")]["value"] == pytest.approx(1.0)
    assert results[("qm9_unconditional", "atom_stability")]["value"] > 0.9
    # each sampled row is its own draw, so the oracle's three answers are the three test molecules, decoded:
    # the same bonds, angles and dihedrals per type as the reference set (values differ by MolStrucTok's
    # quantisation; with one to three values per type the median-bandwidth MMD is not small, so not asserted)
    for metric in ("bond_length_mmd", "bond_angle_mmd", "dihedral_mmd"):
        per_type = results[("qm9_unconditional", metric)]["details"]["per_type"]
        assert per_type and all(t["n_generated"] == t["n_reference"] for t in per_type.values()), metric
    # no oracle registered: property_mae says which one is missing instead of a number
    mae = results[("qm9_conditional_homo", "property_mae")]
    assert mae["status"] == "not_computed" and "qm9_homo" in mae["reason"]
    paper = tmp_path / "paper.yaml"
    paper.write_text("model: BioMatrix-4B\ntasks:\n"
                     "  - {task: qm9_unconditional, table: 16, unit: fraction, results: {default: "
                     "{atom_stability: 0.897}}}\n")
    assert main(["eval", "report", str(out), "--paper", str(paper)]) == 0
    report = (out / "report.md").read_text()
    line = next(ln for ln in report.splitlines() if ln.startswith("| qm9_unconditional | default | atom_stability"))
    assert "0.897" in line


def test_property_mae_is_zero_for_the_gold_structures_with_an_exact_oracle(built, tmp_path):
    from rdkit import Chem

    from biomatrix_plugin.eval.properties import register_property

    targets = {}
    for row in read_jsonl(built / "qm9_conditional_homo/default/test.jsonl"):
        mol = Chem.MolFromMolBlock(read_out(row["answer"], ReadoutSpec("mol3d")).value, removeHs=False)
        targets[Chem.MolToSmiles(Chem.RemoveHs(mol))] = float(row["references"][0])

    # an exact oracle: looks the decoded molecule's graph up, so the gold answers score 0
    register_property("qm9_homo", lambda mol: targets[Chem.MolToSmiles(Chem.RemoveHs(mol))])
    try:
        out = run_oracle_eval("qm9_conditional_homo", built, tmp_path / "eval", oracle=oracle(built))
        assert results_by_metric(out)[("qm9_conditional_homo", "default", "property_mae")]["value"] == \
            pytest.approx(0.0)
    finally:
        register_property("qm9_homo", None)


def test_register_qm9_oracle_scales_to_the_task_unit():
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from biomatrix_plugin.eval.properties import get_property, register_property
    from biomatrix_plugin.eval.readout_mol3d import register_qm9_oracle

    mol = Chem.AddHs(Chem.MolFromSmiles("O"))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    register_qm9_oracle("gap", lambda symbols, coords: 0.25 if symbols == ["O", "H", "H"] else 0.0, unit="eV")
    try:
        assert get_property("qm9_gap")(mol) == pytest.approx(250.0)  # eV -> meV
    finally:
        register_property("qm9_gap", None)
    with pytest.raises(ConfigError, match="the task files use D"):
        register_qm9_oracle("mu", lambda s, c: 0.0, unit="eV")
