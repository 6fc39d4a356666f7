"""Unconditional 1D molecule generation (MOSES, GuacaMol): the MOSES task on the real files of the installed
``molsets`` wheel, GuacaMol on its fixture (published layout); rejects with reasons, rows round-trip through
unwrap, the test split is the reference set with one prompt, and ``eval run`` scores the sampled set (n
molecules from the one prompt) with the MOSES metrics against the reference set and the built train split."""

from __future__ import annotations

import copy
import csv
import dataclasses
import gzip
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import selfies as sf
from rdkit import Chem

from biomatrix_plugin.cli import main
from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.eval.generation import Generation
from biomatrix_plugin.eval.report import build_rows, load_paper, load_results
from biomatrix_plugin.eval.run import RunOptions, run_eval
from biomatrix_plugin.modalities.serialization import unwrap
from biomatrix_plugin.tasks.build import BuildOptions, build_tasks, package_root
from biomatrix_plugin.tasks.converters import CONVERTERS, Context, OtherSubtask
from biomatrix_plugin.tasks.registry import TaskRegistry
from task_testing import fake_model_dir

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
MOSES, GUACAMOL = "moses_unconditional", "guacamol_unconditional"
N_TRAIN, N_TEST = 60, 40  # real MOSES rows read per split in the fast tests
# the MOSES files as shipped in molsets 0.3.1 (dataset_v1); together the report's Table 31 1,936,962
MOSES_ROWS = {"train": 1_584_663, "test": 176_074, "test_scaffolds": 176_225}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _task(task_id: str):
    return TaskRegistry().get(task_id)


def _moses_data() -> Path:
    folder = package_root(_task(MOSES))
    if folder is None:
        pytest.skip("the molsets distribution (MOSES data) is not installed")
    return folder / "moses" / "dataset" / "data"


def _first_rows(source: Path, target: Path, n: int) -> None:
    """A gzipped copy of a shipped MOSES csv with its header and first n rows (the published layout)."""
    with gzip.open(source, "rt", encoding="utf-8") as src:
        lines = [next(src) for _ in range(n + 1)]
    target.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(target, "wt", encoding="utf-8") as out:
        out.writelines(lines)


@pytest.fixture(scope="module")
def raw_root(tmp_path_factory) -> Path:
    """The first rows of the real MOSES train/test files (gzipped, as shipped) and the GuacaMol fixture."""
    root = tmp_path_factory.mktemp("raw")
    data = _moses_data()
    moses = root / "moses" / "dataset" / "data"  # the task file's path: the wheel's own layout
    moses.mkdir(parents=True)
    _first_rows(data / "train.csv.gz", moses / "train.csv.gz", N_TRAIN)
    _first_rows(data / "test.csv.gz", moses / "test.csv.gz", N_TEST)
    (root / "guacamol").mkdir()
    for path in (FIXTURES / "guacamol").glob("*.smiles"):
        (root / "guacamol" / path.name).write_bytes(path.read_bytes())
    return root


@pytest.fixture(scope="module")
def built(raw_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("built")
    build_tasks([_task(MOSES), _task(GUACAMOL)], BuildOptions(raw_root=raw_root, out_dir=out, progress=False,
                                                              shards=1))
    return out


# ---------------------------------------------------------------- the shipped MOSES files

def test_moses_files_ship_in_the_molsets_wheel_with_the_documented_sizes():
    data = _moses_data()
    assert data.parts[-3:] == ("moses", "dataset", "data")
    for split, expected in MOSES_ROWS.items():
        with gzip.open(data / f"{split}.csv.gz", "rt", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            assert next(reader) == ["SMILES"]  # no SPLIT column in the package files
            assert sum(1 for _ in reader) == expected, split
    assert sum(MOSES_ROWS.values()) == 1_936_962  # Table 31's MOSES "train" is the whole set
    assert _task(MOSES)["sizes"]["train"] == 1_936_962
    # found without importing the package (its Python code breaks on pandas >= 2)
    assert "moses" not in sys.modules


def test_moses_builds_from_the_installed_package_without_raw_files(tmp_path):
    """No --raw copy of MOSES: the build reads the wheel's files (the first rows, --limit)."""
    raw = tmp_path / "empty_raw"
    raw.mkdir()
    out = tmp_path / "out"
    manifest = build_tasks([_task(MOSES)], BuildOptions(raw_root=raw, out_dir=out, progress=False, shards=1,
                                                        limit=21, variants=("smiles",)))[0]
    assert manifest["records"]["train"]["rejected"] == 0
    assert 20 <= manifest["rows"]["train"]["smiles"]["rows"] <= 21  # a csv header may count as one of the lines
    assert {i["raw_split"] for i in manifest["inputs"]} == {"train", "test"}
    first = _rows(out / MOSES / "smiles" / "train.jsonl")[0]
    assert first["raw_output"] == "CCCS(=O)c1ccc2[nH]c(=NC(=O)OC)[nH]c2c1"  # the shipped train.csv.gz, row 1


# ---------------------------------------------------------------- converters

def _ctx(split: str, options=None) -> Context:
    return Context(MOSES, "none", "molecule", None, split, options or {})


def test_moses_converter_canonicalises_once_and_rejects_with_reasons():
    convert = CONVERTERS["moses_csv"].function
    [example] = convert({"SMILES": "C1=CC=CC=C1O"}, _ctx("train"))
    assert example.input is None and example.output.smiles == "Oc1ccccc1" == example.raw_output
    assert example.raw_input == "Oc1ccccc1"  # each reference its own group: golds are never pooled
    assert example.output.selfies == "[O][C][=C][C][=C][C][=C][Ring1][=Branch1]"
    # dataset_v1.csv (repository copy) carries the split per row
    assert convert({"SMILES": "CCO", "SPLIT": "train"}, _ctx("train"))[0].output.smiles == "CCO"
    with pytest.raises(OtherSubtask, match="SPLIT: row of split 'test_scaffolds'"):  # routed, not a reject
        convert({"SMILES": "CCO", "SPLIT": "test_scaffolds"}, _ctx("test"))
    cases = [({"SMILES": "C1CC"}, _ctx("train"), "SMILES: SMILES 'C1CC': RDKit cannot parse it"),
             ({"SMILES": ""}, _ctx("train"), "SMILES: empty molecule field"),
             ({"smiles": "CCO"}, _ctx("train"), "no 'SMILES' field (keys: smiles)"),
             ({"smi": "CCO"}, _ctx("train", {"column": "canonical"}), "no 'canonical' field")]
    for row, ctx, reason in cases:
        with pytest.raises(RecordRejected) as exc:
            convert(row, ctx)
        assert reason in str(exc.value), (row, str(exc.value))


def test_guacamol_fixture_rejects_name_their_reason(built):
    rejects = _rows(built / GUACAMOL / "rejects.jsonl")
    assert [(r["split"], r["position"], r["reason"]) for r in rejects] == [
        ("train", 3, "smiles: SMILES 'C1CC': RDKit cannot parse it"),
        ("train", 6, "line has a second cell 'CHEMBL1234'; GuacaMol writes one SMILES a line"),
        ("test", 3, "smiles: SMILES 'C(C)(C)(C)(C)C': RDKit cannot parse it")]
    manifest = json.loads((built / GUACAMOL / "manifest.json").read_text())
    assert manifest["records"] == {"train": {"read": 10, "converted": 8, "routed": 0, "rejected": 2},
                                   "test": {"read": 7, "converted": 6, "routed": 0, "rejected": 1}}
    assert manifest["table31"] == {"train": 1_260_508, "test": 10_000}


def test_reference_rows_keep_the_first_test_molecules_and_reject_the_rest(raw_root, tmp_path):
    """The test split has one row per molecule to draw: the first reference_rows molecules that convert."""
    task = _task(GUACAMOL)
    data = copy.deepcopy(dict(task.data))
    data["source"]["options"] = {"reference_rows": 4}
    manifest = build_tasks([dataclasses.replace(task, data=data)],
                           BuildOptions(raw_root=raw_root, out_dir=tmp_path, progress=False, shards=1))[0]
    test = _rows(tmp_path / GUACAMOL / "smiles" / "test.jsonl")
    assert [r["references"][0] for r in test] == ["CC(=O)Nc1ccc(O)cc1", "Cn1c(=O)c2[nH]cnc2n(C)c1=O",
                                                  "OCC1OC(O)C(O)C(O)C1O", "c1ccc2ccccc2c1"]
    # the molecules past the slots are not bad data: routed, not rejects; the bad line stays a reject
    assert manifest["records"]["test"] == {"read": 7, "converted": 4, "routed": 2, "rejected": 1}
    rejects = [(r["split"], r["position"]) for r in _rows(tmp_path / GUACAMOL / "rejects.jsonl")]
    assert rejects == [("train", 3), ("train", 6), ("test", 3)]
    assert manifest["rows"]["train"]["smiles"]["rows"] == 8  # the train split is not cut


# ---------------------------------------------------------------- built rows

@pytest.mark.parametrize("task_id", [MOSES, GUACAMOL])
@pytest.mark.parametrize("variant", ["smiles", "selfies"])
def test_rows_round_trip_through_unwrap_to_the_canonical_molecule(built, task_id, variant):
    train = _rows(built / task_id / variant / "train.jsonl")
    test = _rows(built / task_id / variant / "test.jsonl")
    assert len(train) == (N_TRAIN if task_id == MOSES else 8) and len(test) == (N_TEST if task_id == MOSES else 6)
    prompts = set(_task(task_id).prompts)
    for row in train:
        assert row["input"] == "" and row["instruction"].replace("SELFIES", "{notation}").replace(
            "SMILES", "{notation}") in prompts
        [segment] = unwrap(row["output"]).segments
        assert segment.modality == variant and segment.error is None
        smiles = segment.value if variant == "smiles" else sf.decoder(segment.value)
        assert Chem.MolToSmiles(Chem.MolFromSmiles(smiles)) == row["raw_output"] == row["raw_input"]
    # the test split is the reference set: one prompt (template 0), one gold per row, never pooled
    assert {r["prompt"] for r in test} == {_task(task_id).prompts[0].format(notation=variant.upper())}
    assert all(len(r["references"]) == 1 and r["input"] == "" for r in test)
    assert len({r["references"][0] for r in test}) == len(test)


def test_moses_train_rows_are_the_shipped_molecules_in_order(built):
    with gzip.open(_moses_data() / "train.csv.gz", "rt") as fh:
        shipped = [line.strip() for _, line in zip(range(N_TRAIN + 1), fh)][1:]
    rows = _rows(built / MOSES / "smiles" / "train.jsonl")
    assert [r["raw_output"] for r in rows] == [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in shipped]


# ---------------------------------------------------------------- eval run: the sampled set

class SetOracle:
    """Answers each prompt with the next molecule of a pool (in words around it), as a sampler that has learned
    the distribution would; counts the prompts (draws) it was asked for."""

    def __init__(self, pool: list[str]):
        self.pool = pool
        self.prompts = 0

    def generate(self, prompts, config):
        assert config.do_sample and config.n == 1 and config.temperature == 1.0 and config.top_p == 1.0
        out = [Generation([f"Here is one: {self.pool[(self.prompts + i) % len(self.pool)]}"])
               for i in range(len(prompts))]
        self.prompts += len(prompts)
        return out


@pytest.fixture
def model(tmp_path) -> Path:
    return fake_model_dir(tmp_path)


def _results(out: Path, variant: str = "smiles") -> dict[str, dict]:
    return {r["metric"]: r for r in _rows(out / MOSES / variant / "results.jsonl")}


def _run(built, model, out, pool, metrics=None, variant="smiles"):
    task = _task(MOSES)
    if metrics is not None:  # a subset of the task's metrics (FCD loads ChemNet: seconds)
        data = copy.deepcopy(dict(task.data))
        data["eval"]["metrics"] = [m for m in data["eval"]["metrics"] if m["name"] in metrics]
        task = dataclasses.replace(task, data=data)
    oracle = SetOracle(pool)
    opts = RunOptions(model=model, data_dir=built, out_dir=out, backend="oracle", variants=(variant,),
                      batch_size=16)
    summary = run_eval([task], opts, backend_factory=lambda: oracle)[0]
    return summary, oracle


def test_eval_run_draws_one_molecule_per_test_row_and_scores_the_set(built, model, tmp_path):
    """The test rows (one prompt, repeated) are independent draws: the generated set has one molecule per row;
    novelty is against the built train split, FCD/SNN/Frag/Scaf against the rows' MOSES test molecules."""
    test = _rows(built / MOSES / "smiles" / "test.jsonl")
    pool = [r["answer"] for r in test]  # real MOSES test molecules: valid, distinct, not in train
    out = tmp_path / "eval"
    summary, oracle = _run(built, model, out, pool)
    assert oracle.prompts == N_TEST == summary["rows"] == summary["generated"]
    res = _results(out)
    assert set(res) == {m["name"] for m in _task(MOSES)["eval"]["metrics"]}
    for name in ("validity", "uniqueness", "novelty"):
        assert res[name]["value"] == pytest.approx(1.0), name
        assert res[name]["n_items"] == N_TEST, name
    assert res["novelty"]["details"]["train_size"] == N_TRAIN
    assert 0.0 < res["intdiv2"]["value"] <= res["intdiv1"]["value"] < 1.0  # power means: IntDiv2 <= IntDiv1
    for name in ("snn", "fcd"):
        assert res[name]["details"]["n_reference"] == N_TEST, name
    assert res["snn"]["value"] == pytest.approx(1.0)  # every draw is itself a reference
    assert res["frag"]["value"] == pytest.approx(1.0) and res["scaf"]["value"] == pytest.approx(1.0)
    assert res["fcd"]["value"] == pytest.approx(0.0, abs=1e-3)  # the generated set is the reference set
    # eval report lists the task next to the paper's Table 5
    rows = {(r.task, r.variant, r.metric): r for r in build_rows(load_results(out), load_paper())}
    assert rows[(MOSES, "smiles", "novelty")].paper == pytest.approx(0.954)
    assert rows[(MOSES, "smiles", "validity")].ours == pytest.approx(1.0)
    assert main(["eval", "report", str(out)]) == 0
    assert f"| {MOSES} | smiles | novelty" in (out / "report.md").read_text()


@pytest.mark.parametrize("variant", ["smiles", "selfies"])
def test_eval_run_novelty_is_zero_for_molecules_of_the_train_split(built, model, tmp_path, variant):
    train = _rows(built / MOSES / variant / "train.jsonl")
    out = tmp_path / "eval"
    _run(built, model, out, [r["output"] for r in train[:8]],  # 8 training molecules, drawn 5 times each
         metrics=("validity", "uniqueness", "novelty"), variant=variant)
    res = _results(out, variant)
    assert res["novelty"]["value"] == pytest.approx(0.0)
    assert res["uniqueness"]["value"] == pytest.approx(8 / N_TEST)
    assert res["validity"]["n_items"] == N_TEST


# ---------------------------------------------------------------- the real-data check, reduced (slow)

def _check_script():
    spec = importlib.util.spec_from_file_location("moses_real_data_check", REPO / "scripts" /
                                                  "moses_real_data_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_moses_real_data_check_reduced(tiny_extended_model, tmp_path):
    """scripts/moses_real_data_check.py on a reduced scale: real MOSES rows -> a few SFT steps of the tiny
    model through llamafactory-cli -> 16 sampled molecules scored through eval run and eval report."""
    _moses_data()
    result = _check_script().run_check(tmp_path / "check", train_rows=200, samples=16, sft_steps=4,
                                       max_new_tokens=48, model=tiny_extended_model, batch_size=2)
    assert result["raw_rows_read"] == {"train": 200, "test": 16}
    assert result["build"]["rows"]["train"]["smiles"]["rows"] == 200
    assert set(result["metrics"]) == {m["name"] for m in _task(MOSES)["eval"]["metrics"]}
    assert result["n_items"]["validity"] == 16  # the sampled set, once
    assert 0.0 <= result["metrics"]["validity"] <= 1.0
    assert result["sft_loss_first_last"][1] < result["sft_loss_first_last"][0]
    assert f"| {MOSES} | smiles | validity" in Path(result["report"]).read_text()
