"""Inputs that are broken or hostile (issue 10 §2/§3): one bad line is one reject and the build goes on; a
broken file is one InputFileError naming it; oversized SMILES never reach RDKit; control tokens never
enter training text as free text; card mistakes (duplicated keys, unmatched patterns, nan weights,
negative seeds) are card errors. Also the format table that replaced records.py's if-chains."""

from __future__ import annotations

import ast
import gzip
import json
import random
import re
from pathlib import Path

import pytest
import yaml

from biomatrix_plugin.corpus import records
from biomatrix_plugin.corpus.builders import BUILDERS
from biomatrix_plugin.corpus.records import (
    FORMATS,
    Format,
    InputPatternError,
    RecordRejected,
    iter_records,
    parse_record,
    resolve_inputs,
)
from biomatrix_plugin.corpus.registry import CardError, check_inputs, load_card, validate_card
from biomatrix_plugin.errors import ConfigError, InputFileError

HERE = Path(__file__).resolve().parent
FIX = HERE / "fixtures"
CARDS = HERE / "cards"
TOKEN = "<|prot_aa_start|>"


def run(builder: str, fmt: str, path: Path, params: dict | None = None) -> tuple[dict, dict]:
    """({where: instances}, {where: reason}) through the reader, parser and builder of a build."""
    accepted, rejected = {}, {}
    for rec in iter_records([str(path)], fmt):
        try:
            fields = parse_record(rec.raw, fmt, {})
            accepted[rec.where] = BUILDERS[builder].function(fields, random.Random(rec.position), params or {})
        except RecordRejected as exc:
            rejected[rec.where] = str(exc)
    return accepted, rejected


# ---------------------------------------------------------------- the format table

def test_formats_are_one_table_and_records_imports_no_parser_module():
    assert isinstance(FORMATS, dict) and all(isinstance(f, Format) for f in FORMATS.values())
    assert set(FORMATS) >= {"sdf", "csv", "tsv", "smi", "jsonl", "fasta", "uniprot_dat", "parquet", "types"}
    tree = ast.parse(Path(records.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | \
        {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m and m.startswith("biomatrix_plugin.corpus.")}, imported
    # the parsers that live in builder modules are reached through the table, by name
    uniprot = parse_record((FIX / "uniprot_sample.dat").read_text().split("//\n")[0] + "//\n", "uniprot_dat")
    assert uniprot["id"] and uniprot["sequence"]
    assert parse_record("1 6.5 0.4 a_rec.pdb b_lig.sdf\n", "types")["affinity"] == 6.5
    with pytest.raises(ConfigError, match="unknown input format 'xml'; expected one of sdf, csv"):
        parse_record("x", "xml")


def test_no_rdlogger_disable_in_the_corpus_and_rdkit_logging_is_restored():
    from rdkit import rdBase

    from biomatrix_plugin.corpus.molecules import molecule_views

    for name in ("molecules", "complexes", "text", "interactions"):
        assert "DisableLog" not in (HERE.parents[1] / "biomatrix_plugin" / "corpus" / f"{name}.py").read_text()
    before = rdBase.LogStatus()
    with pytest.raises(RecordRejected, match="RDKit cannot parse"):
        molecule_views({"smiles": "C1CC"}, {}, want_3d=False)
    assert rdBase.LogStatus() == before  # RDLogger.DisableLog would have switched rdApp.* off for good


# ---------------------------------------------------------------- bad lines are rejects, the rest stays

def test_a_non_utf8_line_is_one_reject_per_format_and_the_other_records_stay(tmp_path):
    bad = b"\xff\xfe broken"
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_bytes(b'{"text": "first"}\n' + bad + b'\n{"text": "third"}\n')
    accepted, rejected = run("text", "jsonl", jsonl)
    assert [a[0]["text"] for a in accepted.values()] == ["first", "third"]
    assert rejected == {"docs.jsonl#1": "line 2: not UTF-8 (invalid start byte at column 1)"}

    csv_path = tmp_path / "mols.csv"
    csv_path.write_bytes(b"smiles,description\nCCO,ethanol\nCCN," + bad + b"\nCCC,propane\n")
    accepted, rejected = run("molecule_text", "csv", csv_path)
    assert sorted(accepted) == ["mols.csv#0", "mols.csv#2"] and "line 3: not UTF-8" in rejected["mols.csv#1"]

    smi = tmp_path / "z.smi"
    smi.write_bytes(b"smiles zinc_id\nCCO ZINC1\n" + bad + b"\nCCC ZINC3\n")
    accepted, rejected = run("molecule", "smi", smi)
    assert sorted(accepted) == ["z.smi#0", "z.smi#2"] and rejected["z.smi#1"].startswith("line 3: not UTF-8")

    fasta = tmp_path / "u.fasta"
    fasta.write_bytes(b">A one\nMKV\n>B two\nMK" + bad + b"\n>C three\nMKL\n")
    accepted, rejected = run("fasta_sequence", "fasta", fasta)
    assert sorted(accepted) == ["u.fasta#0", "u.fasta#2"] and rejected["u.fasta#1"].startswith("line 4: not UTF-8")

    sdf = FIX / "pubchem_compounds.sdf"
    blocks = sdf.read_bytes().split(b"$$$$\n")
    broken = tmp_path / "p.sdf"
    broken.write_bytes(blocks[0] + b"$$$$\n" + blocks[1].replace(b"M  END", b"M  END\n" + bad, 1) + b"$$$$\n")
    # no molecule-3D view: the line-level reject is the point here, and it must hold without the checkpoint
    accepted, rejected = run("molecule", "sdf", broken, {"views": {"smiles": 1.0, "selfies": 0.0, "mol3d": 0.0}})
    assert list(accepted) == ["p.sdf#0"] and "not UTF-8" in rejected["p.sdf#1"]


def test_a_quoted_csv_field_spanning_a_bad_line_rejects_that_row_only(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b'text\n"a\n\xff\nb"\nplain\n')
    accepted, rejected = run("text", "csv", path)
    assert [a[0]["text"] for a in accepted.values()] == ["plain"] and "line 3: not UTF-8" in rejected["t.csv#0"]
    path.write_bytes(b"te\xffxt\nplain\n")
    with pytest.raises(InputFileError, match=r"t.csv: the header is not UTF-8"):
        list(iter_records([str(path)], "csv"))


def test_a_binary_fasta_entry_is_a_reject(tmp_path):
    path = tmp_path / "b.fasta"
    path.write_bytes(b">ok\nMKV\n>blob\n\x00\x01\x02MKV\x7f\n>ok2\nMKL\n")
    accepted, rejected = run("fasta_sequence", "fasta", path)
    assert sorted(accepted) == ["b.fasta#0", "b.fasta#2"]
    assert rejected["b.fasta#1"] == "FASTA entry 'blob': binary data (control character U+0000 on line 2 of the entry)"


def test_a_valid_file_reads_as_before_crlf_included(tmp_path):
    path = tmp_path / "crlf.csv"
    path.write_bytes(b"smiles,name\r\nCCO,ethanol\r\n\r\nCCN,\"ethyl\r\namine\"\r\nCC,a,extra\r\n")
    rows = [r.raw for r in iter_records([str(path)], "csv")]
    assert rows == [{"smiles": "CCO", "name": "ethanol"}, {"smiles": "CCN", "name": "ethyl\r\namine"},
                    {"smiles": "CC", "name": "a", None: ["extra"]}]


# ---------------------------------------------------------------- broken files are one clear error

def _gz(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data))
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "fasta", "sdf", "uniprot_dat", "smi", "types"])
def test_a_truncated_or_non_gzip_gz_is_one_input_file_error_naming_the_file(tmp_path, fmt):
    whole = gzip.compress(b"".join(b'{"text": "line %d"}\n' % i for i in range(20000)))
    truncated = tmp_path / f"cut.{fmt}.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputFileError, match=r"cut\.\w+\.gz: truncated or corrupt gzip stream after [\d,]+ "):
        list(iter_records([str(truncated)], fmt))
    plain = tmp_path / f"plain.{fmt}.gz"
    plain.write_bytes(b"not gzip at all\n")
    with pytest.raises(InputFileError, match=r"plain\.\w+\.gz: not a gzip file"):
        list(iter_records([str(plain)], fmt))


def test_a_corrupt_parquet_is_one_input_file_error_naming_the_file(tmp_path):
    good = FIX / "jglaser_binding_sample.parquet"
    data = good.read_bytes()
    for name, blob in (("text.parquet", b"hello, not parquet\n"), ("cut.parquet", data[: len(data) // 2]),
                       ("empty.parquet", b"")):
        path = tmp_path / name
        path.write_bytes(blob)
        with pytest.raises(InputFileError, match=rf"{name}: not a readable parquet file"):
            list(iter_records([str(path)], "parquet"))
    assert len(list(iter_records([str(good)], "parquet"))) > 0


# ---------------------------------------------------------------- size limits before RDKit

def test_a_huge_smiles_is_rejected_before_rdkit_in_every_molecule_builder(tmp_path):
    huge = "C" * 20000  # RDKit crashes the whole process (SIGSEGV) on some such strings
    mols = tmp_path / "m.jsonl"
    mols.write_text(json.dumps({"smiles": huge, "description": "big"}) + "\n"
                    + json.dumps({"smiles": "CCO", "description": "ethanol"}) + "\n")
    for builder in ("molecule", "molecule_text"):
        accepted, rejected = run(builder, "jsonl", mols)
        assert list(accepted) == ["m.jsonl#1"]
        assert "20,000 characters, over the limit of 4,096" in rejected["m.jsonl#0"], rejected
    # the limits are card parameters
    accepted, rejected = run("molecule", "jsonl", mols, {"max_smiles_chars": 50000, "max_smiles_atoms": 2})
    assert "20,000 atoms, over the limit of 2" in rejected["m.jsonl#0"]
    assert "'CCO': 3 atoms, over the limit of 2" in rejected["m.jsonl#1"] and not accepted

    rows = tmp_path / "b.tsv"
    rows.write_text("Ligand SMILES\tBindingDB Target Chain Sequence\tKi (nM)\n"
                    f"{huge}\tMKVLA\t5\nCCO\tMKVLA\t5\n")
    accepted, rejected = run("binding_affinity", "tsv", rows)
    assert list(accepted) == ["b.tsv#1"] and "over the limit" in rejected["b.tsv#0"]

    docs = tmp_path / "d.jsonl"
    docs.write_text(json.dumps({"text": "Big thing here.", "entities": [
        {"start": 0, "end": 3, "type": "chemical", "id": "x", "smiles": huge}]}) + "\n")
    _, rejected = run("interleaved", "jsonl", docs)
    assert "entity 'x'" in rejected["d.jsonl#0"] and "over the limit" in rejected["d.jsonl#0"]


def test_a_molfile_over_the_atom_limit_is_rejected_before_rdkit(tmp_path):
    sdf = FIX / "pubchem_compounds.sdf"
    accepted, rejected = run("molecule", "sdf", sdf, {"max_smiles_atoms": 3, "max_smiles_chars": 100000})
    assert not accepted and all("over the limit of 3" in r or "M  END" in r for r in rejected.values()), rejected


def test_size_limits_are_declared_card_parameters():
    card = yaml.safe_load((CARDS / "fx_pubchem_sdf.yaml").read_text())
    card["builder"]["params"].update(max_smiles_chars=100, max_smiles_atoms=None)
    assert validate_card(card, "x.yaml") == []
    card["builder"]["params"]["max_smiles_atoms"] = 0
    assert validate_card(card, "x.yaml") == ["card x.yaml: builder.params.max_smiles_atoms: must be an integer >= 1, "
                                             "got 0"]


# ---------------------------------------------------------------- no control tokens in free text

def test_control_tokens_in_free_text_reject_the_record_in_every_builder(tmp_path):
    mols = tmp_path / "m.jsonl"
    mols.write_text(json.dumps({"smiles": "CCO", "description": f"ethanol {TOKEN}MKV"}) + "\n"
                    + json.dumps({"smiles": "CCO", "iupac_name": f"eth{TOKEN}", "description": "fine"}) + "\n"
                    + json.dumps({"smiles": "CCO", "description": "clean"}) + "\n")
    accepted, rejected = run("molecule_text", "jsonl", mols)
    assert list(accepted) == ["m.jsonl#2"]
    assert rejected["m.jsonl#0"].startswith(f"description: free text contains the control token {TOKEN}")
    assert rejected["m.jsonl#1"].startswith("iupac_name: free text contains")

    docs = tmp_path / "t.jsonl"
    docs.write_text(json.dumps({"text": f"a web page quoting {TOKEN}MKV<|prot_aa_end|>"}) + "\n")
    _, rejected = run("text", "jsonl", docs)
    assert "field 'text': free text contains the control token" in rejected["t.jsonl#0"]

    entry = (FIX / "uniprot_sample.dat").read_text().split("//\n")[0] + "//\n"
    lines = entry.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("CC   -!- "))
    lines.insert(at, f"CC   -!- FUNCTION: Binds {TOKEN}MKV.\n")
    dat = tmp_path / "u.dat"
    dat.write_text("".join(lines))
    _, rejected = run("uniprot", "uniprot_dat", dat)
    assert "comment function: free text contains the control token" in rejected["u.dat#0"], rejected

    rows = tmp_path / "b.tsv"
    rows.write_text("Ligand SMILES\tTarget Name\tBindingDB Target Chain Sequence\tKi (nM)\n"
                    f"CCO\tkinase {TOKEN}\tMKV\t5\n")
    _, rejected = run("binding_affinity", "tsv", rows)
    assert rejected["b.tsv#0"].startswith("target name: free text contains")

    fasta = tmp_path / "f.fasta"
    fasta.write_text(f">UniRef50_A name {TOKEN} n=1\nMKV\n")
    _, rejected = run("fasta_sequence", "fasta", fasta)
    assert "FASTA description: free text contains" in rejected["f.fasta#0"]

    inter = tmp_path / "i.jsonl"
    inter.write_text(json.dumps({"text": f"Aspirin {TOKEN} x", "entities": [
        {"start": 0, "end": 7, "type": "drug", "id": "a", "smiles": "CC(=O)Oc1ccccc1C(=O)O"}]}) + "\n")
    _, rejected = run("interleaved", "jsonl", inter)
    assert rejected["i.jsonl#0"].startswith("document text: free text contains")


# ---------------------------------------------------------------- card errors

def test_a_duplicated_key_in_a_card_is_an_error_naming_the_key_and_line(tmp_path):
    text = (CARDS / "fx_text.yaml").read_text()
    card = tmp_path / "dup.yaml"
    card.write_text(text + "builder:\n  name: molecule\n")
    n = len(text.splitlines()) + 1
    with pytest.raises(CardError, match=rf"card .*dup.yaml: line {n}: key 'builder' appears twice in one mapping"):
        load_card(card)
    card.write_text(text)
    assert load_card(card).builder == "text"


@pytest.mark.parametrize("value,message", [
    (".nan", "sampling_weight: must be a finite number (a number > 0), got nan"),
    (".inf", "sampling_weight: must be a finite number (a number > 0), got inf"),
    ("-1", "sampling_weight: must be a number > 0, got -1"),
    ("0", "sampling_weight: must be a number > 0, got 0"),
])
def test_a_weight_that_is_not_a_finite_positive_number_is_a_card_error(tmp_path, value, message):
    card = tmp_path / "w.yaml"
    card.write_text((CARDS / "fx_text.yaml").read_text().replace("sampling_weight: 0.1", f"sampling_weight: {value}"))
    with pytest.raises(CardError, match="w.yaml: " + re.escape(message)):
        load_card(card)


def test_a_negative_or_non_integer_seed_is_a_card_error():
    card = yaml.safe_load((CARDS / "fx_text.yaml").read_text())
    for seed, got in ((-1, "-1"), (1.5, "1.5"), (True, "True")):
        card["seed"] = seed
        assert validate_card(card, "s.yaml") == [f"card s.yaml: seed: must be a non-negative integer, got {got}"]
    card["seed"] = 7
    assert validate_card(card, "s.yaml") == []


def test_an_input_pattern_that_matches_no_file_is_an_error_naming_it(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jsonl").write_text('{"text": "t"}\n')
    assert resolve_inputs(["a/*.jsonl"], tmp_path) == [str(tmp_path / "a" / "x.jsonl")]
    with pytest.raises(InputPatternError) as info:
        resolve_inputs(["a/*.jsonl", "b/*.jsonl", "c.jsonl"], tmp_path, where="card k.yaml")
    assert str(info.value).splitlines() == [
        f"card k.yaml: input.path pattern 'b/*.jsonl' matches no file under {tmp_path}",
        f"card k.yaml: input.path pattern 'c.jsonl' matches no file under {tmp_path}"]
    assert isinstance(info.value, ConfigError) and isinstance(info.value, FileNotFoundError)
    card = load_card(CARDS / "fx_text.yaml")
    assert check_inputs(card, FIX) == []
    assert check_inputs(card, tmp_path) and "matches no file" in check_inputs(card, tmp_path)[0]


def test_every_committed_card_still_validates():
    for path in sorted((HERE.parents[1] / "data_registry" / "cards").glob("*.yaml")) + sorted(CARDS.glob("*.yaml")):
        load_card(path)
