"""`vocab build|import|show`, `extend`, `tiny-base` on inputs and options a user gets wrong: a reject for a bad
line, one `error:` line and exit 2 for a bad file or folder, argparse refusing an option that cannot work."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pytest

from biomatrix_plugin.cli import main


def _build(corpus, out, *extra):
    return main(["vocab", "build", "--corpus", *map(str, corpus), "--out", str(out), "--quiet", *extra])


def _rejects(out) -> list[list[str]]:
    lines = (out / "rejects.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "record\treason"
    return [line.split("\t") for line in lines[1:]]


def test_bad_lines_are_counted_rejects_not_tracebacks(tmp_path):
    corpus = tmp_path / "c.jsonl"
    lines = [
        json.dumps({"smiles": "CCO"}).encode(),
        b'["a", "json", "list"]',                      # valid JSON, not an object
        json.dumps({"text": 42}).encode(),              # non-string text
        json.dumps({"struct_sfi": ["[C 1]"]}).encode(),  # non-string struct_sfi
        b'{"smiles": "caf\xe9"}',                       # not UTF-8
        b"7",                                           # a JSON number
        json.dumps({"struct_sfi": "[C -1]"}).encode(),  # syntax fine, but decode rejects it
    ]
    corpus.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "vocab"
    assert _build([corpus], out) == 0
    report = json.loads((out / "build_report.json").read_text())
    rejects = dict(_rejects(out))
    assert report["records"] == 7 and report["rejected"] == 6 == len(rejects)
    assert "a JSON list, expected an object" in rejects["c.jsonl:2"]
    assert "field 'text' is a int, expected a string" in rejects["c.jsonl:3"]
    assert "field 'struct_sfi' is a list" in rejects["c.jsonl:4"]
    assert "not UTF-8" in rejects["c.jsonl:5"]
    assert "a JSON int" in rejects["c.jsonl:6"]
    assert "is an atom symbol but has no code" in rejects["c.jsonl:7"]


def test_a_non_utf8_smiles_line_is_a_reject(tmp_path):
    smi = tmp_path / "t.smi"
    smi.write_bytes(b"smiles zinc_id\nCCO Z1\n\xff\xfe Z2\nc1ccccc1 Z3\n")
    out = tmp_path / "vocab"
    assert _build([smi], out) == 0
    assert [r[0] for r in _rejects(out)] == ["t.smi:3"]
    assert json.loads((out / "build_report.json").read_text())["records"] == 3


def test_a_truncated_gz_is_one_error_line_and_no_output(tmp_path, capsys):
    data = gzip.compress(b"".join(json.dumps({"smiles": "C" * (i % 9 + 1)}).encode() + b"\n" for i in range(5000)))
    corpus = tmp_path / "c.jsonl.gz"
    corpus.write_bytes(data[: len(data) // 2])
    out = tmp_path / "vocab"
    assert _build([corpus], out) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and str(corpus) in err and "truncated" in err
    assert not out.exists()  # nothing written, not even the folder


def test_a_rebuild_replaces_the_previous_rejects(tmp_path):
    out = tmp_path / "vocab"
    dirty = tmp_path / "dirty.jsonl"
    dirty.write_text('{"smiles": "CCO"}\n{"smiles": "not a smiles"}\n')
    assert _build([dirty], out) == 0 and len(_rejects(out)) == 1
    clean = tmp_path / "clean.jsonl"
    clean.write_text('{"smiles": "CCO"}\n')
    assert _build([clean], out) == 0
    assert json.loads((out / "build_report.json").read_text())["rejected"] == 0
    assert _rejects(out) == []  # written even when empty: no stale rejects beside the new report
    assert not list(out.glob(".*tmp*"))  # atomic writes leave no temporary files


@pytest.mark.parametrize("argv, message", [
    (["vocab", "import", "--tokenizer", "{missing}", "--out", "{tmp}/v"], "no such tokenizer folder"),
    (["vocab", "show", "--vocab", "{missing}"], "no such vocabulary folder"),
    (["vocab", "build", "--corpus", "{missing}", "--out", "{tmp}/v"], "corpus file not found"),
    (["vocab", "build", "--corpus", "{file}", "--out", "{file}"], "exists and is not a folder"),
    (["extend", "--base", "{missing}", "--out", "{tmp}/m"], "no such base model folder"),
    (["extend", "--base", "{tmp}", "--out", "{tmp}/m"], "no config.json"),
])
def test_a_missing_or_wrong_folder_is_one_error_line(tmp_path, capsys, argv, message):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"smiles": "CCO"}\n')
    fill = {"missing": str(tmp_path / "nope"), "tmp": str(tmp_path), "file": str(corpus)}
    assert main([a.format(**fill) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err


def test_extend_on_a_missing_base_stops_before_transformers_loads(tmp_path):
    """Today's failure was 72 lines ending in a hub repo-id error: transformers took the path for a repo."""
    code = ("import sys; from biomatrix_plugin.cli import main; "
            f"rc = main(['extend', '--base', {str(tmp_path / 'nope')!r}, '--out', {str(tmp_path / 'o')!r}]); "
            "print(rc, 'transformers' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["2", "False"], proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("argv", [
    ["vocab", "build", "--corpus", "x", "--out", "o", "--coverage", "1.5"],
    ["vocab", "build", "--corpus", "x", "--out", "o", "--coverage", "nan"],
    ["vocab", "build", "--corpus", "x", "--out", "o", "--coverage", "0"],
    ["extend", "--base", "b", "--out", "o", "--noise-scale", "-1"],
    ["extend", "--base", "b", "--out", "o", "--noise-scale", "inf"],
    ["extend", "--base", "b", "--out", "o", "--seed", "-1"],
    ["extend", "--base", "b", "--out", "o", "--seed", str(2**64)],
    ["tiny-base", "--out", "o", "--layers", "0"],
    ["tiny-base", "--out", "o", "--hidden", "12"],
    ["wrap", "--modality", "dna", "ACGT"],
])
def test_option_values_that_cannot_work_are_refused_by_argparse(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and "error: argument" in capsys.readouterr().err


def test_coverage_nan_is_refused_by_the_library_too():
    from collections import Counter

    from biomatrix_plugin.vocab.vocabulary import VocabularyError, select_by_coverage

    with pytest.raises(VocabularyError, match="coverage must be in"):
        select_by_coverage(Counter({"[C 1]": 1}), float("nan"))
