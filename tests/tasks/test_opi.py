"""OPI converters on the hand-written fixture (published OPI_DATA layout, current and v1 file spellings):
rejects with reasons, the fold test file separated by the TAPE holdouts, ';'-split label sets (commas kept),
rows that round-trip through unwrap, and `eval run` with an oracle scoring perfectly next to the paper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biomatrix_plugin.cli import main
from biomatrix_plugin.corpus.json_records import container, iter_json_records
from biomatrix_plugin.corpus.records import BadRecord
from biomatrix_plugin.errors import InputFileError
from biomatrix_plugin.eval.report import build_rows, load_paper, load_results
from biomatrix_plugin.modalities.serialization import unwrap
from biomatrix_plugin.tasks.build import BuildOptions, build_tasks
from biomatrix_plugin.tasks.registry import TaskRegistry
from conftest import read_jsonl
from task_testing import FIXTURES, bare, build_fixture_tasks, rejects, results_by_metric, run_oracle_eval

OPI_IDS = sorted(t for t in TaskRegistry().ids() if t.startswith("opi_"))
SET_TASKS = [t for t in OPI_IDS if t.startswith(("opi_ec", "opi_go", "opi_keywords", "opi_g"))]

# task -> (train rejects, test rejects): substrings, one per bad row
FOLD_TRAIN = ["class index 1195 is above the last class 1194", "'alpha/beta' is not a class index"]
EXPECTED = {
    "opi_ec_new": (["invalid character(s) '1'", "output: empty label set"], ["invalid JSON"]),
    "opi_ec_price": (["invalid character(s) '1'", "output: empty label set"], []),
    "opi_subcellular_localization": (["input: empty protein sequence"], ["output: empty text field"]),
    "opi_fold_fold": (FOLD_TRAIN, ["TAPE superfamily holdout (task opi_fold_superfamily)",
                                   "TAPE family holdout (task opi_fold_family)",
                                   "TAPE family holdout (task opi_fold_family)", "none of the TAPE holdout sets"]),
    "opi_fold_superfamily": (FOLD_TRAIN, ["TAPE fold holdout", "TAPE fold holdout", "TAPE family holdout",
                                          "TAPE family holdout", "none of the TAPE holdout sets"]),
    "opi_fold_family": (FOLD_TRAIN, ["TAPE fold holdout", "TAPE fold holdout", "TAPE superfamily holdout",
                                     "none of the TAPE holdout sets"]),
    **{f"opi_function_{s}": (["control token <|prot_aa_start|>"], [])
       for s in ("caspsimilarseq", "idfilterseq", "uniprotseq")},
    **{f"opi_go_{s}": (["output: empty label set"], ["invalid character(s) '*'"])
       for s in ("caspsimilarseq", "idfilterseq", "uniprotseq")},
    **{f"opi_keywords_{s}": (["output[1]: 3 is not a label"], ["output: empty label set"])
       for s in ("caspsimilarseq", "idfilterseq", "uniprotseq")},
    **{t: (["input: empty text field"], ["control token <|prot_aa_end|>"])
       for t in ("opi_gname2cancer", "opi_gsymbol2cancer", "opi_gsymbol2tissue")},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("opi_built")
    build_fixture_tasks(OPI_IDS, out)
    return out


def test_every_opi_task_of_the_paper_has_a_file():
    assert set(OPI_IDS) == set(EXPECTED) and len(OPI_IDS) == 18  # 2 EC + 1 location + 3 fold + 9 annotation + 3 KM
    assert {TaskRegistry().get(t).group for t in OPI_IDS} == {"vund_prot1d"}


@pytest.mark.parametrize("task_id", sorted(EXPECTED))
def test_rejects_name_their_reason(built, task_id):
    manifest = json.loads((built / task_id / "manifest.json").read_text())
    for split, wanted in zip(("train", "test"), EXPECTED[task_id]):
        reasons = rejects(built, task_id, split)
        assert len(reasons) == len(wanted), (split, reasons)
        for want in wanted:
            assert sum(want in r for r in reasons) >= wanted.count(want), (want, reasons)
        assert manifest["records"][split]["rejected"] == len(wanted)
        assert manifest["rows"][split]["default"]["rows"] > 0
    assert manifest["table31"] == dict(TaskRegistry().get(task_id)["sizes"])


def test_the_file_read_is_named_and_old_spellings_are_accepted(built):
    def read(task_id):
        manifest = json.loads((built / task_id / "manifest.json").read_text())
        return {i["raw_split"]: i["file"] for i in manifest["inputs"]}

    # v1 spellings: Subcellular_location/location_*, function_description_train.json, *_go_test.jsonl
    assert read("opi_subcellular_localization") == {
        "train": "opi/OPI_DATA/SU/Subcellular_location/location_train.json",
        "test": "opi/OPI_DATA/SU/Subcellular_location/location_test.jsonl"}
    assert read("opi_function_idfilterseq")["function"] == \
        "opi/OPI_DATA/AP/Function/train/function_description_train.json"
    assert read("opi_go_idfilterseq")["IDFilterSeq_go"] == "opi/OPI_DATA/AP/GO/test/IDFilterSeq_go_test.jsonl"
    assert read("opi_go_uniprotseq")["UniProtSeq_go"] == "opi/OPI_DATA/AP/GO/test/UniProtSeq_go_terms_test.jsonl"
    assert read("opi_ec_price") == {"train": "opi/OPI_DATA/SU/EC_number/train/CLEAN_EC_number_train.json",
                                    "price_test": "opi/OPI_DATA/SU/EC_number/test/CLEAN_EC_number_price_test.jsonl"}


def test_fold_test_file_is_separated_by_the_tape_holdouts(built):
    tape = FIXTURES / "opi" / "compute_scores"
    for name, n in (("fold", 2), ("superfamily", 1), ("family", 2)):
        test = read_jsonl(built / f"opi_fold_{name}" / "default" / "test.jsonl")
        holdout = json.loads((tape / f"remote_homology_test_{name}_holdout.json").read_text())
        primaries = {"".join(h["primary"]) for h in holdout}
        assert len(test) == n and {r["raw_input"] for r in test} <= primaries
    answers = [r["answer"] for r in read_jsonl(built / "opi_fold_fold" / "default" / "test.jsonl")]
    assert answers == ["12", "0"]  # the class index as written


def test_fold_without_holdout_files_is_one_error_naming_them(tmp_path):
    raw = tmp_path / "raw"
    source = FIXTURES / "opi" / "OPI_DATA" / "SU" / "Fold_type"
    for path in source.rglob("*.json*"):
        target = raw / "opi" / "OPI_DATA" / "SU" / "Fold_type" / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    task = TaskRegistry().get("opi_fold_fold")
    with pytest.raises(InputFileError, match="remote_homology_test_fold_holdout.json not found"):
        build_tasks([task], BuildOptions(raw_root=raw, out_dir=tmp_path / "out", progress=False))


def test_label_sets_split_on_semicolons_only(built):
    go = read_jsonl(built / "opi_go_caspsimilarseq" / "default" / "train.jsonl")
    assert go[0]["output"] == "4 iron, 4 sulfur cluster binding; metal ion binding; cytoplasm"  # comma kept
    ec = [r["output"] for r in read_jsonl(built / "opi_ec_new" / "default" / "train.jsonl")]
    assert ec == ["2.7.10.2", "1.1.1.1; 2.3.1.5", "3.4.21.4"]  # " ; " read, duplicates dropped
    test = read_jsonl(built / "opi_keywords_uniprotseq" / "default" / "test.jsonl")
    assert test[0]["references"] == ["ATP-binding; Kinase; Transferase"]


@pytest.mark.parametrize("task_id", OPI_IDS)
def test_rows_round_trip_through_unwrap(built, task_id):
    kind = TaskRegistry().get(task_id)["input"]["kind"]
    for name in ("train", "test"):
        for row in read_jsonl(built / task_id / "default" / f"{name}.jsonl"):
            text = row["instruction"] + row["input"] + (row.get("output") or row["answer"])
            parsed = unwrap(text, check_vocabulary=False)
            assert not parsed.errors, (row, parsed.errors)
            proteins = [s.value for s in parsed.segments]
            assert proteins == ([row["raw_input"]] if kind == "protein" else []), row


def test_json_records_reads_arrays_and_lines(tmp_path):
    array = tmp_path / "a.json"
    array.write_text('[\n  {"input": "MK", "output": "1"},\n  {"input": "AA", "output": "2"}\n]\n')
    lines = tmp_path / "b.jsonl"
    lines.write_text('{"input": "MK"}\n\n{"input": \n{"input": "AA"}\n')
    assert container(str(array)) == "array" and container(str(lines)) == "lines"
    assert [r["input"] for r in iter_json_records(str(array))] == ["MK", "AA"]
    got = list(iter_json_records(str(lines)))
    assert got[0] == {"input": "MK"} and isinstance(got[1], BadRecord) and got[2] == {"input": "AA"}


@pytest.fixture(scope="module")
def oracle_eval(built, tmp_path_factory) -> Path:
    # the gold answers, bare: the readouts under test read them whole
    return run_oracle_eval(OPI_IDS, built, tmp_path_factory.mktemp("opi_eval") / "eval", wrap=bare, batch_size=4)


def test_gold_answers_score_perfectly_and_the_report_shows_the_paper(oracle_eval):
    out = oracle_eval
    found = results_by_metric(out)
    for task in map(TaskRegistry().get, OPI_IDS):
        for metric in task["eval"]["metrics"]:
            r = found[(task.id, "default", metric["name"])]
            assert r["n_invalid"] == 0 and r["n_items"] > 0, (task.id, r)
            if metric["name"] in ("accuracy", "rouge_l"):
                assert r["value"] == pytest.approx(1.0), (task.id, r)
    report = {(r.task, r.metric): r for r in build_rows(load_results(out), load_paper())}
    assert report[("opi_go_uniprotseq", "set_f1")].paper == pytest.approx(86.33)
    assert report[("opi_fold_fold", "accuracy")].ours == pytest.approx(100.0)
    assert main(["eval", "report", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert "| opi_fold_family | default | accuracy ↑ | 100.00 | 87.25 |" in text
    for task_id in OPI_IDS:
        assert f"| {task_id} | default |" in text


def test_multi_label_golds_score_perfectly(oracle_eval):
    found = results_by_metric(oracle_eval)
    for task_id in SET_TASKS:
        for metric in ("set_precision", "set_recall", "set_f1"):
            assert found[(task_id, "default", metric)]["value"] == pytest.approx(1.0), (task_id, metric)


def test_a_wrong_label_set_scores_partially(built, tmp_path):
    # the gold's first label and a wrong one
    out = run_oracle_eval("opi_ec_new", built, tmp_path / "eval",
                          wrap=lambda answer: answer.split(";")[0] + "; not an EC")
    found = results_by_metric(out)
    # golds {5.3.1.7} and {1.14.13.8, 1.14.14.1}; predictions: one right label + one wrong each
    assert found[("opi_ec_new", "default", "set_precision")]["value"] == pytest.approx(0.5)
    assert found[("opi_ec_new", "default", "set_recall")]["value"] == pytest.approx((1.0 + 0.5) / 2)


@pytest.mark.slow
def test_eval_run_with_the_tiny_model(built, tiny_extended_model, tmp_path):
    """`eval run` with the real tiny model on two OPI tasks (label set, text), --limit 2, then the report."""
    out = tmp_path / "eval"
    argv = ["eval", "run", "opi_ec_new", "--model", str(tiny_extended_model), "--data", str(built), "--out", str(out),
            "--limit", "2", "--device", "cpu", "--batch-size", "2"]
    assert main(argv) == 0
    got = read_jsonl(out / "opi_ec_new" / "default" / "results.jsonl")
    assert [r["metric"] for r in got] == ["set_precision", "set_recall", "set_f1"]
    assert all(r["n_items"] == 2 for r in got)
    assert main(["eval", "report", str(out)]) == 0
    assert "| opi_ec_new | default |" in (out / "report.md").read_text()
