"""`biomatrix data check-tokens`: with the real Qwen3 BPE extended by the project's vocabulary (tokenizer_ext/),
a joint 3D token the vocabulary lacks is counted as split and the command exits 1; a clean file exits 0."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biomatrix_plugin.corpus.check_tokens import check_files, load_tokenizer, run_check_tokens
from biomatrix_plugin.errors import InputFileError
from biomatrix_plugin.modalities.serialization import wrap

REPO = Path(__file__).resolve().parents[2]
MISSING = "[C 499]"  # a well-formed joint token (code < 512) that tokenizer_ext/mol3d_joint.tsv does not hold


def _vocabulary_joint_tokens() -> set[str]:
    lines = (REPO / "tokenizer_ext" / "mol3d_joint.tsv").read_text().splitlines()[1:]
    return {line.split("\t")[0] for line in lines}


def _rows(mol3d: str) -> list[dict]:
    return [
        {"instruction": "Give the SELFIES.", "input": wrap("smiles", "CCO"), "output": wrap("selfies", "[C][C][O]")},
        {"instruction": "Describe " + wrap("protein", "MKV"), "input": "", "output": "A short peptide."},
        {"instruction": "Generate a 3D molecule.", "input": "", "output": wrap("mol3d", mol3d),
         "history": [["earlier " + wrap("selfies", "[C]"), "ok"]]},
    ]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_missing_joint_token_is_reported_and_exits_1(tiny_extended_model, tmp_path, capsys):
    assert MISSING not in _vocabulary_joint_tokens() and "[C 177]" in _vocabulary_joint_tokens()
    bad = _jsonl(tmp_path / "bad.jsonl", _rows(f"[C 177]{MISSING}[C 177]"))
    assert run_check_tokens(tiny_extended_model, [bad]) == 1
    out = capsys.readouterr().out
    assert f"{MISSING!r} x1:" in out and "FAIL: 1 wrapped symbol(s) split" in out
    report = check_files(load_tokenizer(tiny_extended_model), [bad])
    mol3d = report.modalities["mol3d"]
    assert (mol3d.segments, mol3d.symbols, dict(mol3d.split)) == (1, 3, {MISSING: 1})
    assert report.pieces[MISSING] > 1 and report.pieces["[C 177]"] == 1
    assert sum(report.modalities["selfies"].split.values()) == 0 and report.modalities["selfies"].symbols == 4
    assert report.modalities["protein"].symbols == 3  # residues inside free text are counted too


def test_clean_file_exits_0_and_reads_parquet(tiny_extended_model, tmp_path, capsys):
    rows = _rows("[C 177][C 157]")
    clean = _jsonl(tmp_path / "clean.jsonl", rows)
    table = pa.table({k: [r.get(k, "") for r in rows] for k in ("instruction", "input", "output")}
                     | {"history": [r.get("history", []) for r in rows], "source": ["x"] * len(rows)})
    pq.write_table(table, tmp_path / "clean.parquet")
    assert run_check_tokens(tiny_extended_model, [clean, tmp_path / "clean.parquet"]) == 0
    out = capsys.readouterr().out
    assert "6 rows in 2 file(s)" in out and "ok: every wrapped symbol is one token" in out
    assert "n/a (BPE)" in out  # SMILES segments are ordinary text, not counted


def test_a_missing_symbol_in_parquet_fails_too(tiny_extended_model, tmp_path):
    rows = _rows(f"[C 177]{MISSING}")
    pq.write_table(pa.table({"instruction": [r["instruction"] for r in rows],
                             "output": [r["output"] for r in rows]}), tmp_path / "bad.parquet")
    assert run_check_tokens(tiny_extended_model, [tmp_path / "bad.parquet"]) == 1


def test_malformed_segment_fails(tiny_extended_model, tmp_path, capsys):
    rows = [{"instruction": "x", "input": "", "output": "<|mol_sfi_start|>[C][O]"}]  # never closed
    assert run_check_tokens(tiny_extended_model, [_jsonl(tmp_path / "open.jsonl", rows)]) == 1
    out = capsys.readouterr().out
    assert "malformed: " in out and "open.jsonl:1: selfies" in out and "1 malformed segment(s)" in out


def test_user_mistakes_are_input_errors(tiny_extended_model, tmp_path):
    with pytest.raises(InputFileError, match="not a tokenizer folder"):
        run_check_tokens(tmp_path, [])
    with pytest.raises(InputFileError, match="no such file"):
        run_check_tokens(tiny_extended_model, [tmp_path / "nope.jsonl"])
    (tmp_path / "list.jsonl").write_text("[1, 2]\n")
    with pytest.raises(InputFileError, match=r"list.jsonl:1: not a JSON object"):
        run_check_tokens(tiny_extended_model, [tmp_path / "list.jsonl"])


def test_cli_exit_status_once_wired(tiny_extended_model, tmp_path, capsys):
    """Through `biomatrix data check-tokens` (skipped until corpus/cli.py registers the action)."""
    from biomatrix_plugin.cli import main

    try:
        main(["data", "check-tokens", "--help"])
    except SystemExit as exc:
        if exc.code != 0:
            pytest.skip("corpus/cli.py does not register check-tokens yet")
    bad = _jsonl(tmp_path / "bad.jsonl", _rows(f"[C 177]{MISSING}"))
    assert main(["data", "check-tokens", "--tokenizer", str(tiny_extended_model), str(bad)]) == 1
    assert main(["data", "check-tokens", "--tokenizer", str(tmp_path), str(bad)]) == 2
