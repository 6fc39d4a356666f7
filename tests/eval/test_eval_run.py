"""`biomatrix eval run`: built SMolInstruct test splits -> generations -> read-out -> the task's metrics ->
results files that `eval report` puts next to the paper.

Fast tests inject a backend (the interface of eval.generation: ``generate(messages_list, config)``) to count
calls and to answer like an oracle; the slow end-to-end test generates with the real tiny extended model."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
import yaml

from biomatrix_plugin.cli import main
from biomatrix_plugin.eval.generation import Generation
from biomatrix_plugin.eval.readout import READERS, ReadoutSpec, read_out
from biomatrix_plugin.eval.report import build_rows, load_paper, load_results
from biomatrix_plugin.eval.run import (
    CACHE_DIR,
    EvalRunError,
    RunOptions,
    model_identity,
    run_eval,
)
from biomatrix_plugin.tasks.build import BuildOptions, build_tasks
from biomatrix_plugin.tasks.registry import TaskRegistry
from biomatrix_plugin.tasks.spec import READOUTS

FIXTURES = Path(__file__).resolve().parent.parent / "tasks" / "fixtures"
# one task per readout kind the SMolInstruct family uses: formula, label, first_number, molecule, text
TASKS = ("smolinstruct_s2f", "smolinstruct_bbbp", "smolinstruct_esol", "smolinstruct_forward_synthesis",
         "smolinstruct_s2i")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The fixture's raw files built with the tasks build API (both notations)."""
    out = tmp_path_factory.mktemp("built")
    registry = TaskRegistry()
    build_tasks([registry.get(t) for t in TASKS],
                BuildOptions(raw_root=FIXTURES, out_dir=out, progress=False, shards=1))
    return out


@pytest.fixture
def model(tmp_path) -> Path:
    """A model folder for the identity hash (the injected backends never load it)."""
    path = tmp_path / "model"
    path.mkdir()
    (path / "config.json").write_text('{"model_type": "qwen3"}\n')
    (path / "model.safetensors").write_bytes(b"weights-v1" * 100)
    return path


class Oracle:
    """Answers every prompt with the gold answer of its test row, in words around it ("The answer is ...")
    so that the read-out has to find it (a free-text answer, readout ``text``, is scored as written: bare);
    counts the prompts it was asked."""

    def __init__(self, built: Path, fail_after: int | None = None):
        self.answers = {}
        registry = TaskRegistry()
        for path in built.glob("*/*/test.jsonl"):
            bare = registry.get(path.parent.parent.name)["eval"]["readout"] == "text"
            for line in path.read_text().splitlines():
                row = json.loads(line)
                content = row["instruction"] if not row["input"] else f"{row['instruction']}\n{row['input']}"
                self.answers[content] = row["answer"] if bare else f"The answer is {row['answer']}."
        self.calls = 0
        self.prompts = 0
        self.fail_after = fail_after

    def generate(self, prompts, config):
        if self.fail_after is not None and self.prompts >= self.fail_after:
            raise KeyboardInterrupt("killed")  # what a kill between two batches looks like to the run
        self.calls += 1
        self.prompts += len(prompts)
        return [Generation([self.answers[m[-1]["content"]]]) for m in prompts]


def _opts(model, built, out, **kw) -> RunOptions:
    kw.setdefault("batch_size", 2)
    return RunOptions(model=model, data_dir=built, out_dir=out, backend="oracle", **kw)


def _tasks(*ids):
    registry = TaskRegistry()
    return [registry.get(t) for t in (ids or TASKS)]


def _results(out: Path) -> dict:
    """(task, variant, metric) -> (value, n_items, n_invalid) of every results file under out."""
    found = {}
    for path in out.glob("*/*/results.jsonl"):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            found[(r["task"], r["variant"], r["metric"])] = (r["value"], r["n_items"], r["n_invalid"])
    return found


# ---------------------------------------------------------------- read-out, one kind at a time

@pytest.mark.parametrize("kind, variant, labels, text, expected", [
    ("molecule", "smiles", (), "Product: <|mol_smi_start|>CCO<|mol_smi_end|>.", "CCO"),
    ("molecule", "selfies", (), "<|mol_smi_start|>CCO<|mol_smi_end|> or <|mol_sfi_start|>[C][C][O]<|mol_sfi_end|>",
     "[C][C][O]"),
    ("molecule", "smiles", (), "CCO", "CCO"),  # no wrapper: the bare string
    ("molecule", "smiles", (), "<|mol_smi_start|>CCO", ""),  # cut by max_new_tokens: unreadable, not a guess
    ("molecule", "selfies", (), "<|mol_smi_start|>CCO<|mol_smi_end|>", ""),  # the other notation
    ("first_number", "smiles", (), "About -3.25 log mol/L (range 2-4)", "-3.25"),
    ("first_number", "smiles", (), "1.5e-3", "1.5e-3"),
    ("first_number", "smiles", (), "insoluble", ""),
    ("label", "smiles", ("Yes", "No"), "no.", "No"),
    ("label", "smiles", ("Yes", "No"), "Yes, it crosses the barrier", "Yes"),
    ("label", "smiles", ("Yes", "No"), "I think the answer is no", "No"),
    ("label", "smiles", ("Yes", "No"), "Yes or no, hard to say", "Yes"),  # the leading label
    ("label", "smiles", ("Yes", "No"), "It is unclear whether yes or no", ""),  # two labels named, none leading
    ("label", "smiles", ("Yes", "No"), "Nonetheless", ""),  # a word starting with a label is not it
    ("formula", "smiles", (), "C9H8O4", "C9H8O4"),
    ("formula", "smiles", (), "I think the molecular formula is C6H6O.", "C6H6O"),
    ("formula", "smiles", (), "The formula: C2H3O2-", "C2H3O2-"),
    ("formula", "smiles", (), "C8H24N2+2", "C8H24N2+2"),  # RDKit writes a multiple charge as +2
    ("formula", "smiles", (), "no idea", ""),
    ("text", "smiles", (), "  2-acetyloxybenzoic acid \n", "2-acetyloxybenzoic acid"),
    ("option_letter", "smiles", (), "B", "B"),
    ("option_letter", "smiles", (), "(C) because of the ring", "C"),
    ("option_letter", "smiles", (), "A molecule like this: the answer is D", "D"),
    ("option_letter", "smiles", (), "none of them", ""),
])
def test_readout(kind, variant, labels, text, expected):
    out = read_out(text, ReadoutSpec(kind, variant, labels))
    assert out.value == expected
    assert (out.reason is None) == bool(expected)  # nothing found always says why


def test_every_readout_of_the_task_schema_has_a_reader():
    assert set(READERS) == set(READOUTS)


def test_readout_spec_takes_the_verbalised_labels_from_the_task():
    spec = ReadoutSpec.for_task(TaskRegistry().get("smolinstruct_bbbp").data, "smiles")
    assert spec.kind == "label" and spec.labels == ("Yes", "No")


# ---------------------------------------------------------------- scoring, results, report

def test_the_gold_answers_score_perfectly_and_the_report_shows_the_paper(built, model, tmp_path):
    out = tmp_path / "out"
    summaries = run_eval(_tasks(), _opts(model, built, out), backend_factory=lambda: Oracle(built))
    assert len(summaries) == 2 * len(TASKS)
    results = _results(out)
    for task in _tasks():
        for variant in task.variants:
            names = {m["name"] for m in task["eval"]["metrics"]}
            got = {m for (t, v, m) in results if (t, v) == (task.id, variant)}
            assert got == names, (task.id, variant)
    for (task, variant, metric), (value, n, bad) in results.items():
        expected = 0.0 if metric == "rmse" else 1.0
        assert value == pytest.approx(expected), (task, variant, metric)
        assert bad == 0 and n > 0
    # forward synthesis: the fixture has one input with two golds, both rows count (the denominator)
    fs = json.loads((built / "smolinstruct_forward_synthesis" / "smiles" / "test.jsonl").read_text().splitlines()[1])
    assert len(fs["references"]) == 2
    rows = {(r.task, r.variant, r.metric): r for r in build_rows(load_results(out), load_paper())}
    s2f = rows[("smolinstruct_s2f", "smiles", "formula_match")]
    assert s2f.paper == pytest.approx(99.28) and s2f.ours == pytest.approx(100.0)
    assert rows[("smolinstruct_esol", "selfies", "rmse")].paper == pytest.approx(1.74)
    assert main(["eval", "report", str(out)]) == 0
    assert "| smolinstruct_bbbp | smiles | accuracy ↑ | 100.00 | 84.86 |" in (out / "report.md").read_text()


def test_predictions_file_keeps_generation_answer_and_reason(built, model, tmp_path):
    out = tmp_path / "out"

    class Wrong(Oracle):
        def generate(self, prompts, config):
            return [Generation(["I cannot tell."]) for _ in prompts]

    run_eval(_tasks("smolinstruct_esol"), _opts(model, built, out), backend_factory=lambda: Wrong(built))
    with gzip.open(out / "smolinstruct_esol" / "smiles" / "predictions.jsonl.gz", "rt") as fh:
        preds = [json.loads(line) for line in fh]
    assert preds[0]["texts"] == ["I cannot tell."] and preds[0]["reasons"] == ["no number"]
    result = json.loads((out / "smolinstruct_esol" / "smiles" / "results.jsonl").read_text())
    assert result["status"] == "not_computed" and result["n_invalid"] == result["n_items"] == len(preds)
    assert result["readout"]["reasons"] == {"no number": len(preds)}


# ---------------------------------------------------------------- cache and resume

def test_second_run_generates_nothing_and_loads_no_backend(built, model, tmp_path):
    out = tmp_path / "out"
    first = Oracle(built)
    run_eval(_tasks(), _opts(model, built, out), backend_factory=lambda: first)
    rows = distinct = 0
    for path in built.glob("*/*/test.jsonl"):
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        rows += len(lines)
        distinct += len({(r["instruction"], r["input"]) for r in lines})
    assert first.prompts == distinct < rows  # one generation per distinct prompt (repeated inputs share one)
    before = _results(out)

    def no_backend():
        raise AssertionError("a fully cached run must not load the model")

    summaries = run_eval(_tasks(), _opts(model, built, out), backend_factory=no_backend)
    assert all(s["generated"] == 0 and s["cached"] == s["prompts"] for s in summaries)
    assert _results(out) == before


def test_killed_run_resumes_without_regenerating(built, model, tmp_path):
    out = tmp_path / "out"
    killed = Oracle(built, fail_after=4)
    with pytest.raises(KeyboardInterrupt):
        run_eval(_tasks(), _opts(model, built, out), backend_factory=lambda: killed)
    assert killed.prompts == 5  # s2f smiles 3 + selfies 2 of 3
    # a finished task/variant has its results; the one killed mid-way has none (not a partial one)
    assert [p.relative_to(out).parts[:2] for p in out.glob("*/*/results.jsonl")] == [("smolinstruct_s2f", "smiles")]
    cache = out / CACHE_DIR / "smolinstruct_s2f" / "selfies" / "all.cache"
    assert len(cache.read_text().splitlines()) == 2
    with open(cache, "a") as fh:
        fh.write('{"key": "torn by a kill", "tex')  # a kill in the middle of a line
    resumed = Oracle(built)
    summaries = run_eval(_tasks(), _opts(model, built, out), backend_factory=lambda: resumed)
    clean = Oracle(built)
    run_eval(_tasks(), _opts(model, built, tmp_path / "clean"), backend_factory=lambda: clean)
    assert resumed.prompts == clean.prompts - 5
    assert sum(s["torn_cache_lines"] for s in summaries) == 1
    assert _results(out) == _results(tmp_path / "clean")


def test_a_changed_model_is_not_served_from_the_cache(built, model, tmp_path):
    out = tmp_path / "out"
    run_eval(_tasks("smolinstruct_s2f"), _opts(model, built, out), backend_factory=lambda: Oracle(built))
    before = model_identity(model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes().replace(b"v1", b"v2"))
    assert model_identity(model) != before
    again = Oracle(built)
    run_eval(_tasks("smolinstruct_s2f"), _opts(model, built, out), backend_factory=lambda: again)
    assert again.prompts == 6  # 3 prompts x 2 variants, generated anew


def test_a_copied_model_keeps_its_identity(model, tmp_path):
    copy = tmp_path / "elsewhere" / "model"
    shutil.copytree(model, copy)  # another node's path: the shard caches must still match
    assert model_identity(copy) == model_identity(model)


# ---------------------------------------------------------------- shards and merge

def test_two_shards_merged_score_as_one_run(built, model, tmp_path):
    single = tmp_path / "single"
    run_eval(_tasks(), _opts(model, built, single), backend_factory=lambda: Oracle(built))
    out = tmp_path / "sharded"
    backends = [Oracle(built), Oracle(built)]
    for i in (1, 2):
        summaries = run_eval(_tasks(), _opts(model, built, out, shard=(i, 2)),
                             backend_factory=lambda i=i: backends[i - 1])
        assert all("results" not in s for s in summaries)
    assert not list(out.glob("*/*/results.jsonl"))  # a shard scores nothing
    assert backends[0].prompts > 0 and backends[1].prompts > 0  # both shards had work
    total = sum(s["prompts"] for s in summaries)
    assert backends[0].prompts + backends[1].prompts == total  # disjoint and complete

    def no_backend():
        raise AssertionError("--merge generates nothing")

    run_eval(_tasks(), _opts(model, built, out, merge=True), backend_factory=no_backend)
    assert _results(out) == _results(single)


def test_merge_with_a_missing_shard_names_what_is_missing(built, model, tmp_path):
    out = tmp_path / "out"
    run_eval(_tasks("smolinstruct_s2i"), _opts(model, built, out, shard=(1, 2)),
             backend_factory=lambda: Oracle(built))
    with pytest.raises(EvalRunError, match=r"smolinstruct_s2i/smiles: \d+ of 4 prompts have no generation.*"
                                           r"shard-1-of-2\.cache"):
        run_eval(_tasks("smolinstruct_s2i"), _opts(model, built, out, merge=True),
                 backend_factory=lambda: Oracle(built))


# ---------------------------------------------------------------- user errors

def test_missing_built_data_is_one_error_with_the_build_command(built, model, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(built / "smolinstruct_s2f", data / "smolinstruct_s2f")
    code = main(["eval", "run", "smolinstruct_bbbp", "--model", str(model), "--data", str(data),
                 "--out", str(tmp_path / "out"), "--variant", "selfies"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("error:") == 1
    assert "smolinstruct_bbbp" in err
    assert f"biomatrix tasks build smolinstruct_bbbp --raw RAW_ROOT --out {data} --variant selfies" in err
    assert not (tmp_path / "out").exists()  # refused before anything was generated or written


@pytest.mark.parametrize("extra", [["--shard", "3/2"], ["--shard", "0/2"], ["--shard", "1"], ["--limit", "0"],
                                   ["--batch-size", "-1"], ["--backend", "tgi"], ["--variant", "inchi"]])
def test_invalid_option_values_are_refused_by_argparse(extra, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["eval", "run", "smolinstruct_s2f", "--model", "m", "--data", "d", "--out", str(tmp_path), *extra])
    assert exc.value.code == 2
    assert "argument" in capsys.readouterr().err


def test_shard_and_merge_together_are_refused(built, model, tmp_path):
    with pytest.raises(EvalRunError, match="give one of them"):
        _opts(model, built, tmp_path, shard=(1, 2), merge=True)


def test_unknown_task_and_not_a_model_are_errors(built, model, tmp_path, capsys):
    assert main(["eval", "run", "smolinstruct_s2ff", "--model", str(model), "--data", str(built),
                 "--out", str(tmp_path / "o")]) == 2
    assert "did you mean 'smolinstruct_s2f'" in capsys.readouterr().err
    assert main(["eval", "run", "smolinstruct_s2f", "--model", str(tmp_path), "--data", str(built),
                 "--out", str(tmp_path / "o")]) == 2
    assert "no config.json" in capsys.readouterr().err


# ---------------------------------------------------------------- end to end with the real tiny model

@pytest.mark.slow
def test_eval_run_end_to_end_with_the_tiny_model(tiny_extended_model, tmp_path, capsys):
    """Three tasks built from the fixtures, `eval run all` (a task folder holding just them) with the real tiny
    model on CPU, results per task/variant with the task's metric names, a cached rerun, the report."""
    tasks = ("smolinstruct_s2f", "smolinstruct_bbbp", "smolinstruct_esol")
    tasks_dir = tmp_path / "tasks" / "molecule_1d"
    tasks_dir.mkdir(parents=True)
    shipped = TaskRegistry().root / "molecule_1d"
    for name in ("_smolinstruct", *tasks):
        shutil.copy(shipped / f"{name}.yaml", tasks_dir / f"{name}.yaml")
    registry = TaskRegistry(tasks_dir.parent)
    data, out = tmp_path / "data", tmp_path / "out"
    build_tasks(registry.all(), BuildOptions(raw_root=FIXTURES, out_dir=data, progress=False, shards=1))
    argv = ["eval", "run", "all", "--model", str(tiny_extended_model), "--data", str(data), "--out", str(out),
            "--limit", "2", "--device", "cpu", "--batch-size", "4", "--tasks-dir", str(tasks_dir.parent)]
    assert main(argv) == 0
    first = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert {(s["task"], s["variant"]) for s in first} == {(t, v) for t in tasks for v in ("smiles", "selfies")}
    assert all(s["generated"] == s["prompts"] == 2 for s in first)
    for task in registry.all():
        for variant in task.variants:
            results = [json.loads(line) for line in
                       (out / task.id / variant / "results.jsonl").read_text().splitlines()]
            assert [r["metric"] for r in results] == [m["name"] for m in task["eval"]["metrics"]]
            assert all(r["n_items"] == 2 and r["run"]["backend"] == "hf" for r in results)
    assert main(argv) == 0  # served from the cache: the model is not even loaded
    again = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(again) == 6 and all(s["generated"] == 0 for s in again)
    assert main(["eval", "report", str(out)]) == 0
    report = (out / "report.md").read_text()
    for task, variant, paper in (("smolinstruct_s2f", "smiles", "99.28"), ("smolinstruct_bbbp", "selfies", "85.95"),
                                 ("smolinstruct_esol", "smiles", "1.24")):
        line = next(ln for ln in report.splitlines() if ln.startswith(f"| {task} | {variant} |"))
        assert f"| {paper} |" in line


class Counting:
    """A sampling backend: every prompt gets a new text; records the seed of each call."""

    def __init__(self):
        self.seeds, self.prompts = [], 0

    def generate(self, prompts, config):
        self.seeds.append(config.seed)
        out = []
        for _ in prompts:
            self.prompts += 1
            out.append(Generation([f"<|mol_smi_start|>{'C' * self.prompts}<|mol_smi_end|>"]))
        return out


@pytest.mark.parametrize("mode", ["sample", "greedy"])
def test_repeated_prompts_are_independent_samples_only_when_sampling(model, tmp_path, mode):
    """An unconditional generation task repeats one prompt; sampled rows are separate draws (their own cache
    entries, a different seed per backend call), greedy rows share their one generation."""
    tasks_dir = tmp_path / "tasks" / "molecule_1d"
    tasks_dir.mkdir(parents=True)
    shipped = TaskRegistry().root / "molecule_1d"
    shutil.copy(shipped / "_smolinstruct.yaml", tasks_dir)
    data = yaml.safe_load((shipped / "smolinstruct_molgen.yaml").read_text())
    data["eval"]["decoding"] = ({"mode": "sample", "temperature": 1.0, "max_new_tokens": 8} if mode == "sample"
                                else {"mode": "greedy", "max_new_tokens": 8})
    (tasks_dir / "smolinstruct_molgen.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    task = TaskRegistry(tasks_dir.parent).get("smolinstruct_molgen")
    assert task["eval"]["decoding"]["mode"] == mode
    data = tmp_path / "data" / "smolinstruct_molgen" / "smiles"
    data.mkdir(parents=True)
    rows = [{"id": i, "prompt": "Generate a molecule.", "instruction": "Generate a molecule.", "input": "",
             "references": ["CCO"], "answer": "x"} for i in range(5)]
    (data / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    backend = Counting()
    opts = RunOptions(model=model, data_dir=tmp_path / "data", out_dir=tmp_path / "out", backend="oracle",
                      variants=("smiles",), batch_size=2)
    summary = run_eval([task], opts, backend_factory=lambda: backend)[0]
    if mode == "sample":
        assert backend.prompts == summary["generated"] == 5
        assert len(backend.seeds) == 3 and len(set(backend.seeds)) == 3
        uniqueness = next(json.loads(x) for x in (tmp_path / "out" / "smolinstruct_molgen" / "smiles" /
                                                  "results.jsonl").read_text().splitlines()
                          if json.loads(x)["metric"] == "validity")
        assert uniqueness["n_items"] == 5
    else:
        assert backend.prompts == summary["generated"] == 1 and backend.seeds == [0]
    again = run_eval([task], opts, backend_factory=lambda: pytest.fail("everything is cached"))[0]
    assert again["generated"] == 0
