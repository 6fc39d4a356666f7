"""Issue 9 (one import direction, one error base, one io layer, one CLI style) and issue 10 §2-§4 (bad
annotations, cut PDB files, repeated chains, non-ASCII digits, unclosed quotes, unsafe configurations) for
the protein3d area. Each test fails on the code before these fixes."""

from __future__ import annotations

import ast
import gzip
import json
from pathlib import Path

import pytest

import biomatrix_plugin.protein3d as protein3d_pkg
from biomatrix_plugin.cli import main as biomatrix_main
from biomatrix_plugin.errors import BioMatrixError, ConfigError
from biomatrix_plugin.modalities.serialization import SerializationError, unwrap
from biomatrix_plugin.protein3d.backbone import extract_chains
from biomatrix_plugin.protein3d.instances import three_view_instances
from biomatrix_plugin.protein3d.structure_io import StructureFileError
from biomatrix_plugin.protein3d.tokenizer import StructureTokenizerError, get_structure_tokenizer
from biomatrix_plugin.protein3d.vq_csv import ascii_code, read_vq_csv
from protein3d_builders import Atom, chain_atoms, helix, pdb_text, strand, write

PKG_DIR = Path(protein3d_pkg.__file__).parent
HEADER = "pid,indices,protein_sequence\n"
SEQ16 = "MKTAYIAKQRQISFVK"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = biomatrix_main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_error_line(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# ------------------------------------------------------------------ issue 9: structure

def _protein3d_imports(path: Path) -> set[str]:
    """protein3d modules ``path`` imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            if name.startswith("biomatrix_plugin.protein3d."):
                module = name.split(".")[2]
                if (PKG_DIR / f"{module}.py").is_file():
                    found.add(module)
    return found - {path.stem}


def test_protein3d_modules_import_each_other_without_a_cycle():
    graph = {p.stem: _protein3d_imports(p) for p in PKG_DIR.glob("*.py")}
    assert "gcp_vqvae" not in graph["tokenizer"]  # the registry names backends as strings

    def visit(node, stack):
        for nxt in graph.get(node, ()):
            assert nxt not in stack, f"import cycle: {' -> '.join(stack + [nxt])}"
            visit(nxt, stack + [nxt])

    for module in graph:
        visit(module, [module])


def test_registry_loads_backends_lazily_and_missing_model_is_a_config_error():
    from biomatrix_plugin.protein3d.gcp_vqvae import GCPVQVAEUnavailable
    from biomatrix_plugin.protein3d.tokenizer import STRUCTURE_TOKENIZERS

    assert all(":" in target for target in STRUCTURE_TOKENIZERS.values())
    tok = get_structure_tokenizer("gcp_vqvae", python="/nonexistent/python")
    with pytest.raises(GCPVQVAEUnavailable) as info:
        tok.check()
    # a configuration error (exit 2), still a StructureTokenizerError for callers written against it
    assert isinstance(info.value, ConfigError) and isinstance(info.value, StructureTokenizerError)
    assert "Mahdip72/gcp-vqvae-large" in str(info.value) and "git clone" in str(info.value)
    with pytest.raises(ConfigError, match="unknown option"):
        get_structure_tokenizer("precomputed", csv_path="typo.csv")


def test_protein3d_reads_files_only_through_the_io_layer():
    """No builtin open() for reading, no gzip.open, no private JSONL loop in the area."""
    for path in PKG_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
                mode = node.args[1].value if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) else "r"
                assert "w" in mode or "a" in mode, f"{path.name}:{node.lineno} reads with open()"
            if isinstance(node, ast.Attribute) and node.attr == "open" and getattr(node.value, "id", "") == "gzip":
                raise AssertionError(f"{path.name}:{node.lineno} opens gzip itself")
            if isinstance(node, ast.FunctionDef):
                assert node.name != "_iter_jsonl", f"{path.name}: own JSONL reader"


def test_gzipped_inputs_are_read(tmp_path, capsys):
    structure = write(tmp_path / "two.pdb", chain_atoms(helix(6), "MKTAYI", "A"))
    extracted = tmp_path / "chains.jsonl.gz"
    code, _, _ = run_cli(capsys, "protein3d", "extract", "--in", str(structure), "--out", str(tmp_path / "c.jsonl"))
    assert code == 0
    extracted.write_bytes(gzip.compress((tmp_path / "c.jsonl").read_bytes()))
    table = tmp_path / "vq.csv.gz"
    table.write_bytes(gzip.compress((HEADER + "two_chain_id_A,1 2 3 4 5 6,MKTAYI\n").encode()))
    code, _, err = run_cli(capsys, "protein3d", "encode", "--in", str(extracted), "--vq-csv", str(table),
                           "--out", str(tmp_path / "codes.csv"))
    assert code == 0, err
    assert (tmp_path / "codes.csv").read_text().splitlines()[1] == "two_chain_id_A,1 2 3 4 5 6,MKTAYI"


@pytest.mark.parametrize("group", ["protein3d", "protein"])
def test_group_without_action_prints_its_help(capsys, group):
    code, out, _ = run_cli(capsys, group)
    assert code == 2
    assert "extract" in out and "instances" in out and "compare" in out


def test_new_flag_names_and_old_aliases(tmp_path, capsys):
    structure = write(tmp_path / "h.pdb", chain_atoms(helix(4), "MKTA"))
    for flags in (("--in", "--out"), ("--structure", "--output")):
        out = tmp_path / f"{flags[1].strip('-')}.jsonl"
        code, _, _ = run_cli(capsys, "protein3d", "extract", flags[0], str(structure), flags[1], str(out),
                             "--no-progress")
        assert code == 0 and json.loads(out.read_text())["sequence"] == "MKTA"


# ------------------------------------------------------------------ issue 10 §2: instances

def test_instances_reject_bad_annotations_and_never_write_reprs_or_control_tokens(tmp_path, capsys):
    table = tmp_path / "vq.csv"
    table.write_text(HEADER + "".join(f"p{i},1 2 3,MKT\n" for i in range(6)))
    lines = [
        json.dumps(["p0", {"Function": "x"}]),  # not an object: ended the old run with AttributeError
        json.dumps({"pid": "p1", "annotations": {"Function": {"text": "binds ATP"}}}),  # dict value
        json.dumps({"pid": "p2", "annotations": {"Function": "cuts <|prot_aa_start|><A M>"}}),  # control token
        json.dumps({"pid": "p3", "annotations": ["Function", "x"]}),  # annotations not an object
        json.dumps({"pid": "p4", "annotations": {"Function": "Lysozyme", "Mass": 14313, "Keywords": ["a", "b"]}}),
        json.dumps({"pid": "p4", "annotations": {"Function": "again"}}),  # duplicate pid
        "{not json",
    ]
    annotations = tmp_path / "ann.jsonl"
    annotations.write_text("\n".join(lines) + "\n")
    rows_path, rejects_path = tmp_path / "rows.jsonl", tmp_path / "rejects.jsonl"
    code, _, err = run_cli(capsys, "protein3d", "instances", "--vq-csv", str(table), "--annotations",
                           str(annotations), "--out", str(rows_path), "--rejects", str(rejects_path))
    assert code == 1 and "Traceback" not in err
    rejects = [json.loads(line) for line in rejects_path.read_text().splitlines()]
    assert [r["line"] for r in rejects] == [1, 2, 3, 4, 6, 7]
    assert "expected an object" in rejects[0]["reason"]
    assert "['Function']" in rejects[1]["reason"] and "got dict" in rejects[1]["reason"]
    assert "<|prot_aa_start|>" in rejects[2]["reason"] and "control token" in rejects[2]["reason"]
    assert "already annotated at line 5" in rejects[4]["reason"]
    rows = [json.loads(line)["text"] for line in rows_path.read_text().splitlines()]
    assert len(rows) == 6 * 3 + 1  # three views per protein, one composite (p4)
    (composite,) = [t for t in rows if any(f"{label}: " in t for label in ("Function", "Mass", "Keywords"))]
    assert "{" not in composite and "'" not in composite
    for text in rows:
        parsed = unwrap(text)
        assert not parsed.errors, (text, parsed.errors)
        assert text.count("<|prot_aa_start|>") == text.count("<|prot_aa_end|>")


@pytest.mark.parametrize("annotations, match", [
    ({"Function": {"nested": 1}}, "got dict"),
    ({"Keywords": ["ok", ["nested"]]}, r"\['Keywords'\]\[1\].*got list"),
    ({"Note": "see <|prot_3d_start|>"}, "control token"),
    ({"<|prot_aa_start|>": "x"}, "field name"),
    ("just text", "expected an object"),
])
def test_three_view_instances_refuse_annotations_that_are_not_text(annotations, match):
    with pytest.raises(SerializationError, match=match):
        three_view_instances("MKT", [1, 2, 3], 0, annotations)


# ------------------------------------------------------------------ issue 10 §3: extract, vq_indices.csv

def _two_chain_pdb(tmp_path) -> tuple[Path, str]:
    atoms = chain_atoms(helix(16), SEQ16, "A") + chain_atoms(strand(16), SEQ16, "B")
    text = pdb_text(atoms)
    return write(tmp_path / "full.pdb", atoms), text


def test_pdb_cut_inside_an_atom_line_is_a_reject_naming_the_file(tmp_path, capsys):
    _, text = _two_chain_pdb(tmp_path)
    lines = text.splitlines()
    cut_at = len(lines) - 1 - 8 * 3  # inside chain B's residue 9
    cut = tmp_path / "cut.pdb"
    cut.write_text("\n".join(lines[:cut_at]) + "\n" + lines[cut_at][:50])  # last coordinate cut short
    with pytest.raises(StructureFileError, match=rf"cut.pdb: line {cut_at + 1}: .*truncated"):
        extract_chains(cut)
    rejects = tmp_path / "rejects.jsonl"
    code, _, _ = run_cli(capsys, "protein3d", "extract", "--in", str(cut), "--out", str(tmp_path / "o.jsonl"),
                         "--rejects", str(rejects))
    assert code == 1
    assert (tmp_path / "o.jsonl").read_text() == ""
    reject = json.loads(rejects.read_text())
    assert reject["source"] == str(cut) and "truncated" in reject["reason"]


def test_chain_listed_twice_in_one_model_is_rejected_not_joined(tmp_path, capsys):
    first = chain_atoms(helix(8), SEQ16[:8], "A")
    atoms = first + chain_atoms(strand(8), SEQ16[8:], "B") + chain_atoms(helix(8) + 30.0, SEQ16[:8], "A")
    # waters of chain A after chain B, numbered like its residues: a common layout that stays accepted
    atoms += [Atom("HETATM", "O", "HOH", "A", i, (50.0 + i, 0.0, 0.0), "O") for i in (1, 2)]
    path = write(tmp_path / "twice.pdb", atoms)
    result = extract_chains(path)
    assert [c.chain for c in result.chains] == ["B"]
    (reject,) = result.rejected
    assert reject["source"] == str(path) and reject["chain"] == "A"
    assert "occurs twice" in reject["reason"] and "more than once" in reject["reason"]
    ok = write(tmp_path / "waters.pdb", first + atoms[-2:])
    assert extract_chains(ok).chains[0].sequence == SEQ16[:8]


@pytest.mark.parametrize("argv, message", [
    (["--decimals", "-3"], "between 1 and 8"),
    (["--decimals", "0"], "between 1 and 8"),
    (["--decimals", "9"], "between 1 and 8"),
    (["--break-distance", "nan"], "finite number > 0"),
    (["--break-distance", "0"], "finite number > 0"),
])
def test_extract_options_that_cannot_work_are_refused(tmp_path, capsys, argv, message):
    path = write(tmp_path / "h.pdb", chain_atoms(helix(4), "MKTA"))
    with pytest.raises(SystemExit) as info:
        biomatrix_main(["protein3d", "extract", "--in", str(path), *argv])
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_instances_seed_must_be_a_non_negative_integer(tmp_path, capsys):
    with pytest.raises(SystemExit):
        biomatrix_main(["protein3d", "instances", "--vq-csv", "x.csv", "--out", "o", "--seed", "-1"])
    assert "integer >= 0" in capsys.readouterr().err


def test_codes_in_non_ascii_digits_are_rejected(tmp_path):
    assert ascii_code("123") == 123 and ascii_code("0042") == 42
    assert [ascii_code(f) for f in ("١٢٣", "１", "+1", "1_0", " 1", "²", "")] == [None] * 7
    path = tmp_path / "vq.csv"
    path.write_text(HEADER + "arabic,١ ٢ ٣,MKT\nfull,１ 2 3,MKT\nplus,+1 2 3,MKT\nok,1 2 3,MKT\n", encoding="utf-8")
    records, rejected = read_vq_csv(path)
    assert [r.pid for r in records] == ["ok"]
    reasons = {r["pid"]: r["reason"] for r in rejected}
    assert reasons["arabic"] == "index '١' at position 0 is not an integer (only ASCII digits 0-9 are read)"
    assert "'１' at position 0" in reasons["full"] and "'+1' at position 0" in reasons["plus"]


def test_unclosed_quote_is_an_error_for_its_line_and_keeps_the_next_row(tmp_path):
    path = tmp_path / "vq.csv"
    path.write_text(HEADER + 'a,"1 2 3,MKT\nb,4 5 6,GGG\n"c,d",1 2,M\n')
    records, rejected = read_vq_csv(path)
    assert [r.pid for r in records] == ["b"]  # the old reader swallowed b into a's quoted field
    assert [(r["line"], r["row"]) for r in rejected] == [(2, 1), (4, 3)]
    assert "unclosed quote" in rejected[0]["reason"]
    assert rejected[1]["pid"] == "c,d"  # a quoted pid is still parsed as CSV


# ------------------------------------------------------------------ issue 10 §4: one error line, exit 2

def test_compare_on_unreadable_files_prints_one_error_line(tmp_path, capsys):
    good = write(tmp_path / "good.pdb", chain_atoms(helix(6), "MKTAYI"))
    junk = tmp_path / "junk.pdb"
    junk.write_bytes(b"\x00\x01binary\xff" * 10)
    cases = {tmp_path / "missing.pdb": "missing.pdb: cannot open", tmp_path: "is a directory",
             junk: "junk.pdb"}
    for path, needle in cases.items():
        code, _, err = run_cli(capsys, "protein3d", "compare", "--pred", str(path), "--ref", str(good))
        assert_one_error_line(code, err, needle)
    two = write(tmp_path / "two.pdb", chain_atoms(helix(6), "MKTAYI", "A") + chain_atoms(strand(6), "MKTAYI", "B"))
    code, _, err = run_cli(capsys, "protein3d", "compare", "--pred", str(good), "--ref", str(two))
    assert_one_error_line(code, err, "2 protein chains (A, B)", "--ref-chain")


@pytest.mark.parametrize("content, needle", [
    (None, "no such file"),
    ("!!python/object/apply:os.system ['echo unsafe']\n", "not valid YAML"),
    ("- repo_dir\n- model_dir\n", "expected a mapping"),
    ("repo_dir: /x\nmodel: /y\n", "unknown key(s) model"),
    ("batch_size: 0\n", "batch_size must be an integer >= 1"),
    ("chunk_size: many\n", "chunk_size must be an integer >= 1"),
    ("mixed_precision: fp8\n", "mixed_precision must be one of auto, no, bf16, fp16"),
    ("repo_dir: [unclosed\n", "not valid YAML at line 2"),
])
def test_decode_config_missing_or_unsafe_is_one_error_line(tmp_path, capsys, content, needle):
    table = tmp_path / "vq.csv"
    table.write_text(HEADER + "a,1 2 3,MKT\n")
    cfg = tmp_path / "gcp.yaml"
    if content is not None:
        cfg.write_text(content)
    code, _, err = run_cli(capsys, "protein3d", "decode", "--vq-csv", str(table), "--config", str(cfg),
                           "--out", str(tmp_path / "out"))
    assert_one_error_line(code, err, needle)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, needle", [
    ([], "needs --vq-csv"),
    (["--vq-csv", "t.csv", "--config", "c.yaml"], "--config configures the gcp_vqvae backend"),
    (["--backend", "gcp_vqvae"], "needs --config"),
    (["--backend", "gcp_vqvae", "--vq-csv", "t.csv", "--config", "c.yaml"], "--vq-csv is read by the precomputed"),
    (["--vq-csv", "t.csv", "--rejects", "codes.csv"], "name the same file"),
])
def test_encode_option_combinations_that_cannot_work(tmp_path, capsys, extra, needle):
    chains = tmp_path / "chains.jsonl"
    chains.write_text("")
    code, _, err = run_cli(capsys, "protein3d", "encode", "--in", str(chains), "--out", "codes.csv", *extra)
    assert_one_error_line(code, err, needle)


def test_encode_on_a_missing_input_is_one_error_line(tmp_path, capsys):
    table = tmp_path / "vq.csv"
    table.write_text(HEADER + "a,1 2 3,MKT\n")
    code, _, err = run_cli(capsys, "protein3d", "encode", "--in", str(tmp_path / "nope.jsonl"), "--vq-csv",
                           str(table), "--out", str(tmp_path / "codes.csv"))
    assert_one_error_line(code, err, "nope.jsonl")
    assert not (tmp_path / "codes.csv").exists()


def test_area_errors_share_the_base():
    from biomatrix_plugin.protein3d.gcp_vqvae import GCPVQVAEUnavailable
    from biomatrix_plugin.protein3d.vq_csv import VQCsvError

    for cls in (StructureFileError, VQCsvError, StructureTokenizerError, GCPVQVAEUnavailable):
        assert issubclass(cls, BioMatrixError)
    source = (PKG_DIR / "cli.py").read_text()
    assert "SystemExit" not in source


def test_extract_on_a_missing_path_or_empty_folder_is_one_error_line_and_no_output(tmp_path, capsys):
    good = write(tmp_path / "good.pdb", chain_atoms(helix(4), "MKTA"))
    empty = tmp_path / "empty"
    empty.mkdir()
    for path, needle in ((tmp_path / "gone" / "x.pdb", "no such file or folder"), (empty, "no structure file")):
        out = tmp_path / "chains.jsonl"
        code, _, err = run_cli(capsys, "protein3d", "extract", "--in", str(good), str(path), "--out", str(out))
        assert_one_error_line(code, err, str(path), needle)
        assert not out.exists()
