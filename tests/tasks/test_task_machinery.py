"""The task machinery the non-SMolInstruct families build on: multi-field inputs, the entity kinds protein /
protein3d / mol3d / label_set / none, the converter registry collected from tasks/sources, a converter's
prepare() step reaching every record, data that ships in an installed distribution, the json_array input
format, and the protein / label_set readouts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from biomatrix_plugin import schema as S
from biomatrix_plugin.corpus.records import FORMATS, RecordRejected
from biomatrix_plugin.errors import InputFileError
from biomatrix_plugin.eval.readout import ReadoutSpec, read_out
from biomatrix_plugin.modalities.serialization import unwrap
from biomatrix_plugin.tasks import converters as C
from biomatrix_plugin.tasks import entities
from biomatrix_plugin.tasks.build import BuildOptions, TaskBuildError, build_task, raw_root_for
from biomatrix_plugin.tasks.converters import ConverterSpec, Example
from biomatrix_plugin.tasks.registry import TaskRegistry
from biomatrix_plugin.tasks.render import RenderSpec, render
from biomatrix_plugin.tasks.spec import TaskFileError

PROMPTS_PAIR = [f"Variant {i}: does {{protein}} bind {{molecule}}?" for i in range(8)]


def _task(tmp_path: Path, name: str = "pair_task", **over) -> Path:
    data = {
        "title": "A pair task", "domain": "interaction", "modality": "1d",
        "source": {"dataset": "Fixture", "license": "CC0", "url": "https://example.org",
                   "path": "pairs/{split}.json", "converter": "machinery_pairs"},
        "input": {"fields": {"protein": "protein", "molecule": "molecule"}},
        "prompts": PROMPTS_PAIR,
        "response": {"kind": "label_set", "sep": "; "},
        "variants": ["smiles", "selfies"],
        "splits": {"train": ["train"], "test": "test"},
        "group": "vinter_fixture", "sizes": {"train": 2, "test": 1},
        "eval": {"decoding": {"mode": "greedy", "max_new_tokens": 16}, "readout": "label_set",
                 "metrics": [{"name": "set_f1", "options": {"sep": ";"}}]},
    }
    for key, value in over.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    folder = tmp_path / "tasks" / "interaction_1d"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return tmp_path / "tasks"


def _convert_pairs(row, ctx):
    prot = entities.read("protein", C.field(row, "protein"), "protein")
    mol = entities.read("molecule", C.field(row, "molecule"), "molecule")
    labels = entities.read("label_set", C.field(row, "labels"), "labels")
    # the prepare() result reaches every record: the label the whole dataset agreed on goes first
    labels = (ctx.prepared["most_common"], *[x for x in labels if x != ctx.prepared["most_common"]])
    return [Example({"protein": prot, "molecule": mol}, labels, json.dumps(row, sort_keys=True), row["labels"])]


def _prepare_pairs(pc):
    counts: dict[str, int] = {}
    for path in pc.files("train"):
        for row in json.loads(Path(path).read_text()):
            for label in row["labels"].split(";") if isinstance(row, dict) else ():
                counts[label.strip()] = counts.get(label.strip(), 0) + 1
    return {"most_common": max(sorted(counts), key=counts.get), "splits": sorted(pc.all_files())}


@pytest.fixture
def pair_converter(monkeypatch):
    table = dict(C.CONVERTERS)
    table["machinery_pairs"] = ConverterSpec(_convert_pairs, "json_array", S.Spec(fields={}), "fixture pairs",
                                             prepare=_prepare_pairs)
    monkeypatch.setattr(C.CONVERTERS, "_table", table)


@pytest.fixture
def raw(tmp_path) -> Path:
    root = tmp_path / "raw" / "pairs"
    root.mkdir(parents=True)
    train = [{"protein": "MKTAYIAK", "molecule": "CCO", "labels": "ion binding; kinase activity, transferase"},
             {"protein": "mkt ayi", "molecule": "c1ccccc1", "labels": "kinase activity, transferase"},
             {"protein": "MKT1", "molecule": "CCO", "labels": "x"},  # a digit is no residue
             ["not", "an", "object"]]
    (root / "train.json").write_text(json.dumps(train))
    (root / "test.json").write_text(json.dumps({"data": [train[0]]}))
    return tmp_path / "raw"


def test_a_multi_field_task_builds_with_prepare_and_json_array(tmp_path, raw, pair_converter):
    task = TaskRegistry(_task(tmp_path)).get("pair_task")
    out = tmp_path / "out"
    manifest = build_task(task, BuildOptions(raw_root=raw, out_dir=out, progress=False, shards=1))
    assert manifest["records"]["train"] == {"read": 4, "converted": 2, "routed": 0, "rejected": 2}
    rejects = [json.loads(x)["reason"] for x in (out / "pair_task" / "rejects.jsonl").read_text().splitlines()]
    assert any("protein" in r and "'1'" in r for r in rejects), rejects
    assert any("array element is a list" in r for r in rejects), rejects
    rows = [json.loads(x) for x in (out / "pair_task" / "smiles" / "train.jsonl").read_text().splitlines()]
    assert rows[0]["input"] == ""  # with input.fields every field sits in the instruction
    segments = [s.modality for s in unwrap(rows[0]["instruction"]).segments]
    assert segments == ["protein", "smiles"]
    assert unwrap(rows[1]["instruction"]).segments[0].value == "MKTAYI"  # uppercased, spaces removed
    # the prepared "most common label" (2 of 3 rows) leads every answer, commas inside a label kept
    assert [r["output"] for r in rows] == ["kinase activity, transferase; ion binding",
                                           "kinase activity, transferase"]
    test = [json.loads(x) for x in (out / "pair_task" / "selfies" / "test.jsonl").read_text().splitlines()]
    assert test[0]["references"] == ["kinase activity, transferase; ion binding"]
    assert "<|mol_sfi_start|>" in test[0]["prompt"]


def test_prepare_result_is_part_of_the_build_fingerprint(tmp_path, raw, pair_converter):
    task = TaskRegistry(_task(tmp_path)).get("pair_task")
    out = tmp_path / "out"
    first = build_task(task, BuildOptions(raw_root=raw, out_dir=out, progress=False, shards=1))
    rows = json.loads((raw / "pairs" / "train.json").read_text())
    rows.append({"protein": "MKV", "molecule": "C", "labels": "ion binding; ion binding2"})
    rows.append({"protein": "MKV", "molecule": "CC", "labels": "ion binding"})
    (raw / "pairs" / "train.json").write_text(json.dumps(rows))
    second = build_task(task, BuildOptions(raw_root=raw, out_dir=out, progress=False, shards=1, force=True))
    assert first["engine_fingerprints"] != second["engine_fingerprints"]
    out_rows = [json.loads(x) for x in (out / "pair_task" / "smiles" / "train.jsonl").read_text().splitlines()]
    assert out_rows[0]["output"].startswith("ion binding")  # the new most common label


@pytest.mark.parametrize("change, key, message", [
    (lambda d: d["prompts"].__setitem__(3, "Does {protein} bind?"), "prompts[3]",
     "does not name the input field {molecule}"),
    (lambda d: d["prompts"].__setitem__(0, "{input} and {protein} {molecule}"), "prompts[0]",
     "unknown placeholder {input}"),
    (lambda d: d["input"].update(kind="text"), "input.kind", "either input.kind"),
    (lambda d: d["input"]["fields"].update(notation="text"), "input.fields.notation", "must match"),
    (lambda d: d["response"].update(kind="text"), "response.sep", "only a label_set response"),
])
def test_multi_field_schema_rules(tmp_path, pair_converter, change, key, message):
    root = _task(tmp_path)
    path = root / "interaction_1d" / "pair_task.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(TaskFileError) as info:
        TaskRegistry(root).get("pair_task")
    assert f"{key}: " in str(info.value) and message in str(info.value), str(info.value)


def test_an_unconditional_task_has_no_input_placeholder(tmp_path, pair_converter):
    prompts = [f"Generate molecule number {i}." for i in range(7)] + ["Write {input}."]
    root = _task(tmp_path, "gen_task", input={"kind": "none"}, prompts=prompts,
                 response={"kind": "molecule"}, eval={"decoding": {"mode": "sample", "temperature": 1.0,
                                                                   "max_new_tokens": 64},
                                                      "readout": "molecule", "metrics": [{"name": "validity"}]})
    with pytest.raises(TaskFileError) as info:
        TaskRegistry(root).get("gen_task")
    assert "prompts[7]: unknown placeholder {input}" in str(info.value)


def test_render_of_an_unconditional_example():
    spec = RenderSpec("gen", ("Generate a {notation} molecule.",), {"kind": "molecule"}, ("selfies",))
    row = render(spec, Example(None, entities.molecule("OCC", "out"), "", "CCO"), "selfies", 0, "train")
    assert row["instruction"] == "Generate a SELFIES molecule." and row["input"] == ""
    assert unwrap(row["output"]).segments[0].value == "[C][C][O]"


@pytest.mark.parametrize("kind, value, expected", [
    ("protein", " mk tv\n", "MKTV"),
    ("protein3d", "5, 17,250", (5, 17, 250)),
    ("protein3d", [1, 2], (1, 2)),
    ("mol3d", "[C 12][C 7][O 301]", "[C 12][C 7][O 301]"),
    ("label_set", "GO:1; a, b ;GO:1;", ("GO:1", "a, b")),
    ("label_set", ["x", " y "], ("x", "y")),
    ("none", None, None),
])
def test_entity_kinds_read_and_render(kind, value, expected):
    got = entities.read(kind, value, "f")
    payload = got.payload() if hasattr(got, "payload") else got
    assert (tuple(payload) if isinstance(payload, list) else payload) == expected
    if hasattr(got, "wrapped"):
        assert unwrap(got.wrapped()).segments[0].ok


@pytest.mark.parametrize("kind, value, reason", [
    ("protein", "MK7V", "invalid character"),
    ("protein", "  ", "empty protein"),
    ("protein3d", "1,,2", "code"),
    ("protein3d", "١,٢", "code"),
    ("protein3d", [True], "not an integer"),
    ("mol3d", "[C -1]", "[C -1]"),
    ("mol3d", "[Xx 3]", "Xx"),
    ("label_set", " ; ", "empty label set"),
    ("label_set", 3, "not a label list"),
    ("none", "CCO", "takes no input"),
])
def test_entity_kinds_reject_with_the_reason(kind, value, reason):
    with pytest.raises(RecordRejected) as info:
        entities.read(kind, value, "field x")
    assert str(info.value).startswith("field x") and reason in str(info.value), str(info.value)


def test_structure_codes_must_match_the_sequence_length():
    assert entities.structure([1, 2, 3], "s", sequence="MKV").sequence == "MKV"
    with pytest.raises(RecordRejected, match="3 codes but the sequence has 2 residues"):
        entities.structure([1, 2, 3], "s", sequence="MK")


def test_converter_registry_collects_source_modules_and_refuses_a_duplicate(tmp_path, monkeypatch):
    assert "smolinstruct" in C.CONVERTERS
    pkg = tmp_path / "fake_sources"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    body = ("from biomatrix_plugin import schema as S\nfrom biomatrix_plugin.tasks.converters import ConverterSpec\n"
            "CONVERTERS = {'same': ConverterSpec(lambda r, c: [], 'jsonl', S.Spec(fields={}), 's')}\n")
    (pkg / "a.py").write_text(body)
    (pkg / "b.py").write_text(body)
    (pkg / "_helper.py").write_text("raise RuntimeError('helpers are not sources')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(C, "SOURCES_PACKAGE", "fake_sources")
    with pytest.raises(C.ConverterRegistryError, match="'same' is defined by both fake_sources.a and fake_sources.b"):
        C._collect()
    (pkg / "b.py").write_text("CONVERTERS = {'x': 1}\n")
    sys.modules.pop("fake_sources.b", None)
    with pytest.raises(C.ConverterRegistryError, match="fake_sources.b: must define CONVERTERS"):
        C._collect()


def test_data_in_an_installed_distribution_is_found_without_raw_files(tmp_path, pair_converter):
    pytest.importorskip("lmdb")  # any installed distribution will do for the missing-package case below
    source = {"dataset": "MOSES", "license": "MIT", "url": "https://github.com/molecularsets/moses",
              "path": "{split}.csv.gz", "converter": "machinery_pairs",
              "package": {"distribution": "molsets", "root": "moses/dataset/data"}}
    task = TaskRegistry(_task(tmp_path, source=source)).get("pair_task")
    empty = tmp_path / "empty"
    empty.mkdir()
    from importlib import metadata

    try:
        metadata.distribution("molsets")
    except metadata.PackageNotFoundError:
        pytest.skip("molsets is not installed (make install adds it with --no-deps)")
    folder = raw_root_for(task, "train", empty)
    assert (folder / "train.csv.gz").is_file() and folder.parts[-3:] == ("moses", "dataset", "data")
    assert "moses" not in sys.modules  # found through the distribution's metadata, not imported
    (empty / "train.csv.gz").write_bytes(b"")
    assert raw_root_for(task, "train", empty) == empty  # --raw wins when it holds the files
    source["package"]["distribution"] = "no-such-distribution-here"
    task = TaskRegistry(_task(tmp_path, source=source)).get("pair_task")
    with pytest.raises(TaskBuildError, match="pip install --no-deps no-such-distribution-here"):
        raw_root_for(task, "test", empty)


def test_json_array_reader(tmp_path):
    fmt = FORMATS["json_array"]
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"instances": [{"a": 1}, 2]}))
    items = list(fmt.reader(str(path)))
    assert fmt.parser(items[0], {}) == {"a": 1}
    with pytest.raises(RecordRejected, match="array element is a int"):
        fmt.parser(items[1], {})
    path.write_text('[{"a": 1}, ')
    with pytest.raises(InputFileError, match="a.json: not JSON .* at line 1"):
        list(fmt.reader(str(path)))
    path.write_text(json.dumps({"x": [], "y": []}))
    with pytest.raises(InputFileError, match="exactly one list"):
        list(fmt.reader(str(path)))


@pytest.mark.parametrize("kind, text, expected, reason", [
    ("protein", "Here: <|prot_aa_start|><A M><A K><|prot_aa_end|>.", "MK", None),
    ("protein", "MKV LLA", "MKVLLA", None),
    ("protein", "I cannot design it", "", "no protein segment"),
    ("label_set", "ion binding;  kinase activity, transferase.", "ion binding; kinase activity, transferase", None),
    ("label_set", " ", "", "empty"),
])
def test_protein_and_label_set_readouts(kind, text, expected, reason):
    got = read_out(text, ReadoutSpec(kind))
    assert (got.value, got.reason) == (expected, reason)
