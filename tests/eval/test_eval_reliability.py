"""Issue 9 §1 / issue 10 §2-§4 for eval: the lazy metric table, size limits before RDKit, report inputs,
one `error:` line per user mistake, and option values argparse refuses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from biomatrix_plugin.cli import main
from biomatrix_plugin.eval import EvalInputError, compute, list_metrics
from biomatrix_plugin.eval.registry import METRIC_TABLE, METRICS

EVAL_SRC = Path(__file__).resolve().parents[2] / "biomatrix_plugin" / "eval"
FAMILIES = ("molecules", "molecule_design", "molecules3d", "text", "scalar", "proteins", "protein_design")


def run(capsys, *argv):
    rc = main(["eval", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


# ------------------------------------------------------------------ the table (issue 9 §1)

def test_listing_and_lookup_import_no_family():
    # the old registry imported all seven families (RDKit, scipy, nltk, ...) for --list or any get_metric
    code = (
        "import sys\n"
        "from biomatrix_plugin.eval.registry import list_metrics, get_metric, compute\n"
        "list_metrics(); get_metric('validity')\n"
        f"fams = {FAMILIES!r}\n"
        "print(sorted(f for f in fams if 'biomatrix_plugin.eval.' + f in sys.modules), 'rdkit' in sys.modules)\n"
        "compute('rmse', ['1'], ['2'])\n"
        "print(sorted(f for f in fams if 'biomatrix_plugin.eval.' + f in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[] False", "['scalar']"]


def test_every_entry_names_its_function():
    for spec in METRIC_TABLE:
        module, _, function = spec.impl.partition(":")
        assert module in FAMILIES and function, spec.impl
        assert callable(spec.func), spec.name
    # no family registers itself any more: the table is the only place a metric is declared
    for family in FAMILIES:
        source = (EVAL_SRC / f"{family}.py").read_text()
        assert "@register" not in source and "eval.registry import" not in source, family
    # proteins no longer imports protein_design (the old cycle); the other direction stays
    assert "protein_design" not in (EVAL_SRC / "proteins.py").read_text().split('"""', 2)[2]


def test_unit_and_direction_live_on_the_spec():
    old_fraction = {  # the report's former FRACTION_METRICS, registered names only, plus rep (a fraction)
        "validity", "uniqueness", "novelty", "exact_match", "inchi_match", "formula_match", "iupac_match", "fts",
        "accuracy", "set_precision", "set_recall", "set_f1", "meteor", "bleu2", "bleu4", "rouge1", "rouge2",
        "rouge_l", "aar", "edit_sr", "edit_wsr", "custom_sr", "custom_wsr", "opt_sr", "opt_wsr", "correct_loose",
        "correct_strict", "validity_3d", "atom_stability", "mol_stability", "rep"}
    assert {s.name for s in list_metrics() if s.unit == "fraction"} == old_fraction
    assert {s.name for s in list_metrics() if s.unit == "percent"} == {n for n in METRICS if n.endswith("_pct")}
    for name in ("bond_length_mmd", "bond_angle_mmd", "dihedral_mmd", "rep", "pae", "rmse", "fcd"):
        assert not METRICS[name].higher_is_better, name
    import biomatrix_plugin.eval.report as report

    assert not hasattr(report, "FRACTION_METRICS") and not hasattr(report, "LOWER_IS_BETTER_EXTRA")


def test_list_stays_complete(capsys):
    rc, out, _ = run(capsys, "metric", "--list")
    lines = out.splitlines()
    assert rc == 0 and len(lines) == len(METRICS) == 59
    assert {line.split()[0] for line in lines} == set(METRICS)
    validity = next(line for line in lines if line.startswith("validity "))
    assert "higher-is-better" in validity and "[options: notation]" in validity


def test_rdkit_logging_is_restored_and_no_blanket_excepts():
    from rdkit import rdBase

    before = rdBase.LogStatus()
    assert compute("validity", ["C((", "CCO"]).n_invalid == 1
    assert rdBase.LogStatus() == before  # the old to_mol disabled rdApp.* for the whole process
    for path in EVAL_SRC.glob("*.py"):
        source = path.read_text()
        assert "DisableLog" not in source and "except Exception" not in source, path.name


# ------------------------------------------------------------------ SMILES size before RDKit (issue 10 §2)

@pytest.mark.parametrize("metric", ["exact_match", "uniqueness"])
def test_a_20000_character_answer_is_invalid_not_a_crash(tmp_path, metric):
    pred = tmp_path / "pred.txt"
    pred.write_text("C" * 20000 + "\nCCO\n")
    args = ["eval", "metric", metric, "--pred", str(pred)]
    if metric == "exact_match":
        (tmp_path / "ref.txt").write_text("CCO\nCCO\n")
        args += ["--ref", str(tmp_path / "ref.txt")]
    proc = subprocess.run([sys.executable, "-m", "biomatrix_plugin.cli", *args], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-500:])  # was -11 (SIGSEGV inside RDKit)
    obj = json.loads(proc.stdout)
    assert obj["n_items"] == 2 and obj["n_invalid"] == 1 and obj["details"]["too_large"] == 1


def test_size_limit_applies_to_every_rdkit_metric():
    big = "C" * 5000  # parses in RDKit (slowly): the old code counted it valid
    assert compute("validity", [big, "CCO"]).n_invalid == 1
    assert compute("fts", [big, "CCO"], ["CCO", "CCO"]).n_invalid == 1
    assert compute("validity", ["[C]" * 5000]).details == {"too_large": 1}  # SELFIES decodes to the same SMILES
    with pytest.raises(EvalInputError, match=r"reference item 1: .*5,000 characters, over the limit"):
        compute("exact_match", ["CCO"], [big])


# ------------------------------------------------------------------ eval report inputs (issue 10 §3)

def _result(**extra) -> str:
    return json.dumps({"metric": "accuracy", "value": 0.8, "n_items": 10, "n_invalid": 0, "status": "computed",
                       "task": "smolinstruct_bbbp", "variant": "smiles", **extra})


@pytest.mark.parametrize("case,expect", [
    ("string", r"r\.json: metric accuracy: value 'high' is not a number"),
    ("not_utf8", r"r\.jsonl:2: not UTF-8"),
    ("task", r"r\.json: unknown task 'smolinstruct_bbbq'; the paper's tasks are: smolinstruct_bbbp, "),
    ("variant", r"r\.json: task smolinstruct_bbbp has no variant 'smile'; its variants are: smiles, selfies"),
    ("no_variant", r"task smolinstruct_bbbp has the variants selfies, smiles; name one"),
    ("report_as", r"--report-as validity_strict: metric accuracy does not compute the paper's validity_strict"),
])
def test_report_refuses_bad_results_naming_the_file(tmp_path, capsys, case, expect):
    res = tmp_path / "res"
    res.mkdir()
    if case == "string":
        (res / "r.json").write_text(_result(value="high"))
    elif case == "not_utf8":
        (res / "r.jsonl").write_bytes(_result().encode() + b"\n" + b'{"metric": "caf\xe9"}\n')
    elif case == "task":
        (res / "r.json").write_text(_result(task="smolinstruct_bbbq"))
    elif case == "variant":
        (res / "r.json").write_text(_result(variant="smile"))
    elif case == "no_variant":
        (res / "r.json").write_text(_result(variant=None))
    else:
        (res / "r.json").write_text(_result(report_as="validity_strict"))
    rc, _, err = run(capsys, "report", str(res))
    assert rc == 2
    import re

    assert re.search(expect, one_error_line(err)), err
    assert not (res / "report.md").exists()


def test_report_shows_a_nan_value_as_a_row_saying_why(tmp_path, capsys):
    res = tmp_path / "res"
    res.mkdir()
    (res / "r.json").write_text(_result(value=float("nan")))  # json.dumps writes NaN, which json.loads reads
    rc, _, _ = run(capsys, "report", str(res))
    row = next(line for line in (res / "report.md").read_text().splitlines() if "smolinstruct_bbbp" in line)
    assert rc == 0 and "not computed: value is nan in r.json, not a finite number" in row


def test_eval_metric_checks_task_variant_and_report_as_before_scoring(tmp_path, capsys):
    pred = tmp_path / "p.txt"
    pred.write_text("CCO\n")
    base = ["metric", "validity", "--pred", str(pred), "--out", str(tmp_path / "r.json")]
    rc, _, err = run(capsys, *base, "--task", "smolinstruct_molgen", "--variant", "smile")
    assert rc == 2 and "its variants are: smiles, selfies" in one_error_line(err)
    rc, _, err = run(capsys, *base, "--task", "moses_unconditonal", "--variant", "smiles")
    assert rc == 2 and "the paper's tasks are: moses_unconditional, " in one_error_line(err)
    rc, _, err = run(capsys, *base, "--report-as", "fts")
    assert rc == 2 and "may be reported as: validity_loose, validity_strict" in one_error_line(err)
    assert not (tmp_path / "r.json").exists()
    # V&C only from the complete=true run; the mapping and the options land in the result
    gen = tmp_path / "gen.jsonl"
    gen.write_text(json.dumps({"atoms": ["H", "H"], "coords": [[0, 0, 0], [0.74, 0, 0]]}) + "\n")
    args = ["metric", "validity_3d", "--pred", str(gen), "--field", "*", "--task", "qm9_unconditional",
            "--report-as", "validity_completeness", "--out", str(tmp_path / "vc.json")]
    rc, _, err = run(capsys, *args)
    assert rc == 2 and "only with option complete=true" in one_error_line(err)
    rc, _, _ = run(capsys, *args, "--option", "complete=true")
    saved = json.loads((tmp_path / "vc.json").read_text())
    assert rc == 0 and saved["options"] == {"complete": True} and saved["variant"] == "default"


# ------------------------------------------------------------------ one error line, exit 2 (issue 10 §4)

@pytest.mark.parametrize("case", ["out_is_dir", "out_under_file", "missing_pred", "ref_is_dir", "ref_not_utf8",
                                  "ref_bad_gzip", "no_name"])
def test_user_mistakes_are_one_error_line(tmp_path, capsys, case):
    pred, ref = tmp_path / "p.txt", tmp_path / "r.txt"
    pred.write_text("CCO\n")
    ref.write_text("CCO\n")
    args = ["metric", "exact_match", "--pred", str(pred), "--ref", str(ref)]
    expect = {
        "out_is_dir": "is a directory; give the result file's path", "out_under_file": "cannot create its folder",
        "missing_pred": "nope.txt: no such file", "ref_is_dir": "is a directory, expected a file",
        "ref_not_utf8": "r.txt:1: not UTF-8", "ref_bad_gzip": "r.txt.gz: not a gzip file",
        "no_name": "give a metric NAME or --list",
    }[case]
    if case == "out_is_dir":
        args += ["--out", str(tmp_path)]
    elif case == "out_under_file":
        args += ["--out", str(pred / "r.json")]
    elif case == "missing_pred":
        args[3] = str(tmp_path / "nope.txt")
    elif case == "ref_is_dir":
        args[5] = str(tmp_path)
    elif case == "ref_not_utf8":
        ref.write_bytes(b"CC\xff\n")
    elif case == "ref_bad_gzip":
        (tmp_path / "r.txt.gz").write_bytes(b"not gzip")
        args[5] = str(tmp_path / "r.txt.gz")
    else:
        args = ["metric"]
    rc, out, err = run(capsys, *args)
    assert rc == 2 and out == ""
    assert expect in one_error_line(err)


# ------------------------------------------------------------------ option values argparse refuses

@pytest.mark.parametrize("option,value,reason", [
    ("--n", "0", "must be >= 1"), ("--max-new-tokens", "0", "must be >= 1"),
    ("--top-p", "1.5", "must be in (0, 1]"), ("--top-p", "0", "must be in (0, 1]"),
    ("--temperature", "0", "must be > 0"), ("--batch-size", "-2", "must be >= 1"),
    ("--seed", "-1", "must be >= 0"), ("--n", "nan", "'nan' is not an integer"),
])
def test_generate_refuses_values_that_cannot_work(tmp_path, capsys, option, value, reason):
    with pytest.raises(SystemExit) as exc:
        main(["eval", "generate", "--model", str(tmp_path), "--prompts", str(tmp_path / "p.jsonl"),
              "--out", str(tmp_path / "o.jsonl"), "--mode", "sample", option, value])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"argument {option}: {reason}" in err
