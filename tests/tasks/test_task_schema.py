"""Task files: the schema refuses bad files naming the file and the dotted key; every shipped task file is
valid, its group a Table 30 group; the suite covers the report's 80 sub-tasks, and the generated
paper_results.yaml holds exactly the task files' (and aggregates') paper numbers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from biomatrix_plugin.paths import package_data
from biomatrix_plugin.schema import load_yaml
from biomatrix_plugin.tasks.registry import TaskRegistry, UnknownTaskError
from biomatrix_plugin.tasks.spec import TABLE30_GROUPS, TaskFileError

DEFAULTS = package_data("tasks", "defaults")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tasks_dir(tmp_path) -> Path:
    """A copy of the shipped task files to break."""
    root = tmp_path / "tasks"
    shutil.copytree(DEFAULTS, root)
    return root


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _error(root: Path, task_id: str) -> str:
    with pytest.raises(TaskFileError) as info:
        TaskRegistry(root).get(task_id)
    return str(info.value)


# Table 31 rows with a test split but no published result (report: Tables 9-10 are SMolInstruct only)
UNPUBLISHED = {"chebi20_molcap", "chebi20_molgen", "uspto50k_retrosynthesis"}
TRAINING_ONLY = {"knowmol_molcap", "knowmol_molgen", "molopt_others", "megascience"}


def test_every_shipped_task_file_is_valid_and_the_suite_is_the_reports():
    tasks = TaskRegistry().all()
    assert all(t.group in TABLE30_GROUPS or t.group.startswith("vinter_") for t in tasks)
    assert all(len(t.prompts) >= 8 for t in tasks)
    assert {t.id for t in tasks if t.training_only} == TRAINING_ONLY
    assert {t.id for t in tasks if not t.training_only and "paper" not in t.data} == UNPUBLISHED
    published = [t for t in tasks if "paper" in t.data]
    # report §4.1: 80 sub-tasks have results in Tables 5-29; co-generation is one sub-task there with two
    # directions (seq->struct, struct->seq), which are two task files here
    assert len(published) == 81 and {"cogeneration_seq_to_struct", "cogeneration_struct_to_seq"} <= {
        t.id for t in published}
    assert {t["paper"]["table"] for t in published} == set(range(5, 30))


def test_paper_results_is_generated_from_the_task_files_and_aggregates():
    published = load_yaml(package_data("eval", "cards", "paper_results.yaml"))
    by_id = {e["task"]: e for e in published["tasks"]}
    registry = TaskRegistry()
    tasks = [t for t in registry.all() if "paper" in t.data]
    aggregates = load_yaml(DEFAULTS / "aggregates.yaml")["aggregates"]
    assert set(by_id) == {t.id for t in tasks} | {a["id"] for a in aggregates}
    for task in tasks:
        assert task["paper"]["results"] == by_id[task.id]["results"], task.id
        assert (task["paper"]["table"], task["paper"]["unit"]) == (by_id[task.id]["table"], by_id[task.id]["unit"])
    total = by_id["moleculeqa_total"]
    assert total["aggregate"]["of"] == ["moleculeqa_structure", "moleculeqa_source", "moleculeqa_property",
                                        "moleculeqa_application"]


def test_data_registry_tasks_is_the_shipped_folder():
    link = REPO / "data_registry" / "tasks"
    assert link.is_symlink() and link.resolve() == DEFAULTS.resolve()


@pytest.mark.parametrize("change, key, message", [
    (lambda d: d.update(promts=d.pop("prompts")), "promts", "unknown key"),
    (lambda d: d.update(prompts=d["prompts"][:7]), "prompts", "at least 8"),
    (lambda d: d["prompts"].append("Name {input} with {notaton}."), "prompts[8]", "unknown placeholder {notaton}"),
    (lambda d: d["prompts"].append(d["prompts"][0].upper()), "prompts", "repeats template 0"),
    (lambda d: d.update(group="vmix_mol2d"), "group", "not a Table 30 group"),
    (lambda d: d["source"].update(path="smolinstruct/raw/train/x.jsonl"), "source.path",
     "converter 'smolinstruct' does not route rows of one file to their splits"),
    (lambda d: d.update(variants=["smiles", "smile"]), "variants[1]", "unknown item 'smile'"),
    (lambda d: d["eval"]["decoding"].update(mode="beam"), "eval.decoding.mode", "not one of"),
    (lambda d: d["eval"]["decoding"].update(temperature=0.7), "eval.decoding.temperature", "greedy decoding"),
    (lambda d: d["paper"]["results"]["smiles"].update(exact_match=1.0), "paper.results.smiles.exact_match",
     "no eval metric produces it"),
    (lambda d: d["response"].update(precision=2), "response.precision", "only a number response"),
    (lambda d: d["sizes"].update(train=-1), "sizes.train", "non-negative integer"),
    (lambda d: d["source"]["options"].update(task="name_conversion-s2x"), "source.options.task", "not one of"),
    (lambda d: d["source"].update(converter="smolinstrukt"), "source.converter", "unknown converter"),
    (lambda d: d.update(training_only=True), "splits.test", "training-only task has no test split"),
])
def test_schema_names_file_and_key(tasks_dir, change, key, message):
    path = tasks_dir / "molecule_1d" / "smolinstruct_s2i.yaml"
    _edit(path, change)
    text = _error(tasks_dir, "smolinstruct_s2i")
    assert f"task file {path}: {key}: " in text and message in text, text


def test_a_problem_in_the_include_names_the_merged_key(tasks_dir):
    _edit(tasks_dir / "molecule_1d" / "_smolinstruct.yaml", lambda d: d.update(group="vmix"))
    # every SMolInstruct task inherits it; all are reported together
    with pytest.raises(TaskFileError) as info:
        TaskRegistry(tasks_dir).all()
    assert len([p for p in info.value.problems if ": group: " in p]) == 14


def test_duplicated_key_is_an_error_with_its_line(tasks_dir):
    path = tasks_dir / "molecule_1d" / "smolinstruct_esol.yaml"
    path.write_text(path.read_text() + "group: vmix_mol1d\ngroup: vmol3d\n")
    assert "appears twice" in _error(tasks_dir, "smolinstruct_esol")


def test_include_cycle_and_missing_include(tasks_dir):
    folder = tasks_dir / "molecule_1d"
    (folder / "_a.yaml").write_text("include: _b.yaml\n")
    (folder / "_b.yaml").write_text("include: _a.yaml\n")
    path = folder / "smolinstruct_esol.yaml"
    path.write_text(path.read_text().replace("include: _smolinstruct.yaml", "include: _a.yaml"))
    assert "includes itself" in _error(tasks_dir, "smolinstruct_esol")
    path.write_text(path.read_text().replace("include: _a.yaml", "include: _nope.yaml"))
    assert "_nope.yaml does not exist" in _error(tasks_dir, "smolinstruct_esol")


def test_folder_must_match_domain_and_modality(tasks_dir):
    shutil.copy(tasks_dir / "molecule_1d" / "_smolinstruct.yaml", tasks_dir / "protein_1d")
    shutil.move(tasks_dir / "molecule_1d" / "smolinstruct_esol.yaml", tasks_dir / "protein_1d")
    assert "move it to molecule_1d/" in _error(tasks_dir, "smolinstruct_esol")


def test_select_by_group_and_unknown_names():
    registry = TaskRegistry()
    vmix = registry.select("vmix_mol1d")
    assert len(vmix) == 41 and all(t["domain"] == "molecule" for t in vmix)
    assert {t.id for t in vmix} >= {"smolinstruct_hiv", "s2bench_opt_qed", "molopt_herg", "moleculeqa_source",
                                    "chebi20_molgen", "uspto50k_retrosynthesis"}
    assert [t.id for t in registry.select("vgen_mol1d_moses")] == ["moses_unconditional"]
    assert [t.id for t in registry.select("smolinstruct_hiv")] == ["smolinstruct_hiv"]
    with pytest.raises(UnknownTaskError, match="did you mean 'smolinstruct_hiv'"):
        registry.get("smolinstruct_hvi")
    with pytest.raises(UnknownTaskError, match="neither a task nor a group"):
        registry.select("vgen_mol1d_zinc")


def test_registry_is_lazy(tasks_dir):
    # a broken file does not stop another task from loading: only listed, parsed when asked for
    (tasks_dir / "molecule_1d" / "smolinstruct_esol.yaml").write_text("title: [unclosed\n")
    assert TaskRegistry(tasks_dir).get("smolinstruct_hiv").id == "smolinstruct_hiv"
    assert "not valid YAML" in _error(tasks_dir, "smolinstruct_esol")
