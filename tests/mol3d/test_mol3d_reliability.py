"""Bad input a user can hand to `mol3d`: size limits before RDKit, undecodable tokens as rejects, isotope
labels, option values that cannot work, bracket-hydrogen parity with the reference, and io-layer inputs."""

from __future__ import annotations

import gzip
import json
import time

import pytest
from rdkit import Chem

from biomatrix_plugin.cli import main
from biomatrix_plugin.mol3d import Mol3DError, MolStrucTok, embed_3d
from mol3d_shared import checkpoint, tokenizer

# A glycinate copper complex whose molblock gives Cu two implicit hydrogens (valence field 3, one bond),
# with every other hydrogen explicit. Expected tokens: the released reference implementation's output on
# exactly this molblock and the released checkpoint (run once, outside this repository).
CU_MOLBLOCK = """
     RDKit          3D

 10  9  0  0  0  0  0  0  0  0999 V2000
   -2.2502    0.6162    0.6258 H   0  0  0  0  0  0  0  0  0  0  0  0
   -1.3276    0.7419    0.1754 N   0  0  0  0  0  0  0  0  0  0  0  0
   -1.3495    1.3891   -0.6386 H   0  0  0  0  0  0  0  0  0  0  0  0
   -0.6273   -0.4875   -0.1038 C   0  0  0  0  0  0  0  0  0  0  0  0
   -0.9520   -1.2940    0.5925 H   0  0  0  0  0  0  0  0  0  0  0  0
   -0.8398   -0.8528   -1.1248 H   0  0  0  0  0  0  0  0  0  0  0  0
    0.8594   -0.3385   -0.0020 C   0  0  0  0  0  0  0  0  0  0  0  0
    1.5983   -1.3461   -0.2236 O   0  0  0  0  0  0  0  0  0  0  0  0
    1.3566    0.9062    0.3328 O   0  0  0  0  0  0  0  0  0  0  0  0
    3.5321    0.6656    0.3663 Cu  0  0  0  0  0  3  0  0  0  0  0  0
  1  2  1  0
  2  3  1  0
  2  4  1  0
  4  5  1  0
  4  6  1  0
  4  7  1  0
  7  8  2  0
  7  9  1  0
  9 10  1  0
M  END
"""
CU_REFERENCE = ("[H 3][N 26][Branch1 -1][C -1][H 304][C 166][Branch1 -1][C -1][H 106][Branch1 -1][C -1][H 267]"
                "[C 147][=Branch1 -1][C -1][=O 204][OH0 59][CuH2 171]")


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---------------------------------------------------------------- bracket hydrogens (issue 10 §5)

def test_bracket_hydrogens_on_a_metal_match_the_reference():
    mol = Chem.MolFromMolBlock(CU_MOLBLOCK, removeHs=False)
    assert [a.GetTotalNumHs() for a in mol.GetAtoms() if a.GetSymbol() == "Cu"] == [2]
    res = tokenizer().encode_mol(mol)
    assert res.struct_sfi == CU_REFERENCE  # was [Cu 171][Branch1 -1][C -1][H 76][H 6]: two added [H] atoms
    assert len(res.codes) == mol.GetNumAtoms() == 10
    assert tokenizer().decode(res.struct_sfi).GetNumAtoms() == 10


def test_heavy_atom_only_molecules_still_get_hydrogen_atoms():
    heavy = Chem.RemoveHs(embed_3d("NCC(=O)O", seed=3))
    res = tokenizer().encode_mol(heavy)
    assert len(res.codes) == Chem.AddHs(heavy).GetNumAtoms() and "[H " in res.struct_sfi


# ---------------------------------------------------------------- isotopes (issue 10 §2)

def _deuterated():
    mol = embed_3d("CC([2H])([2H])O", seed=1)
    plain = Chem.Mol(mol)
    for atom in plain.GetAtoms():
        atom.SetIsotope(0)
    return mol, plain


def test_isotopes_are_dropped_with_a_warning_or_rejected():
    mol, plain = _deuterated()
    res = tokenizer().encode_mol(mol)
    assert res.ok and res.struct_sfi == tokenizer().encode_mol(plain).struct_sfi
    assert res.isotopes_dropped == 2 and "[2H] x2" in res.warnings[0]
    strict = MolStrucTok(model=tokenizer().model, isotopes="reject")
    with pytest.raises(Mol3DError, match=r"record d2: isotope labels \[2H\] x2.*--isotopes reject"):
        strict.encode_mol(mol, record="d2")
    assert strict.encode_mol(plain).ok


def test_encode_cli_counts_isotope_warnings_and_rejects_on_request(tmp_path, capsys):
    mol, plain = _deuterated()
    sdf = tmp_path / "iso.sdf"
    sdf.write_text(Chem.MolToMolBlock(mol) + "$$$$\n" + Chem.MolToMolBlock(plain) + "$$$$\n")
    out = tmp_path / "out.jsonl"
    base = ["mol3d", "encode", "--in", str(sdf), "--out", str(out), "--checkpoint", str(checkpoint()), "--no-progress"]
    assert main(base) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["isotope_warnings"] == 1
    assert "warning: 1 molecule(s) were encoded without their isotope labels" in captured.err
    first, second = _lines(out)
    assert first["isotopes_dropped"] == 2 and "[2H]" in first["warnings"][0] and "warnings" not in second
    assert main([*base, "--isotopes", "reject"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["written"], summary["rejected"]) == (1, 1)
    assert "isotope labels [2H] x2" in _lines(out)[0]["error"]


# ---------------------------------------------------------------- sizes before RDKit (issue 10 §2)

def test_embed_refuses_oversized_input_before_rdkit():
    t = time.perf_counter()
    with pytest.raises(Mol3DError, match="2,000 atoms, over the limit of 256"):
        embed_3d("C" * 2000, max_heavy_atoms=256)
    with pytest.raises(Mol3DError, match="characters, over the limit"):
        embed_3d("C" * 10_000_000)
    with pytest.raises(Mol3DError, match="902 atoms with hydrogens exceed the limit of 256"):
        embed_3d(Chem.MolFromSmiles("C" * 300), max_atoms=256)
    assert time.perf_counter() - t < 5  # ETKDG on the 2,000-carbon chain ran for minutes


def test_encode_embed_rejects_huge_smiles_with_the_reason(tmp_path, capsys):
    smi = tmp_path / "big.smi"
    smi.write_text(f"{'C' * 2000} chain2000\n{'C' * 10_000_000} tenmegabytes\n{'C' * 120} c120\nCCO ethanol\n")
    out = tmp_path / "out.jsonl"
    t = time.perf_counter()
    assert main(["mol3d", "encode", "--in", str(smi), "--out", str(out), "--embed", "--no-progress",
                 "--checkpoint", str(checkpoint())]) == 0
    assert time.perf_counter() - t < 60
    lines = _lines(out)
    assert "2,000 atoms, over the limit of 256" in lines[0]["error"] and lines[0]["name"] == "chain2000"
    assert "10,000,000 characters, over the limit of 4,096" in lines[1]["error"]
    assert "362 atoms with hydrogens exceed the limit of 256" in lines[2]["error"]  # checked before ETKDG
    assert lines[3]["name"] == "ethanol" and len(lines[3]["codes"]) == 9
    assert main(["mol3d", "encode", "--in", str(smi), "--out", str(out), "--embed", "--no-progress",
                 "--checkpoint", str(checkpoint()), "--max-embed-atoms", "3", "--max-smiles-chars", "5000"]) == 0
    lines = _lines(out)
    assert "characters, over the limit of 5,000" in lines[1]["error"]
    assert "120 atoms, over the limit of 3" in lines[2]["error"] and "error" not in lines[3]


# ---------------------------------------------------------------- decode rejects (issue 10 §2)

def test_decode_undecodable_symbols_are_rejects_and_the_run_goes_on(tmp_path, capsys):
    good = tokenizer().encode_mol(embed_3d("OCC(=O)N", seed=2)).struct_sfi
    src = tmp_path / "in.jsonl"
    rows = [{"index": 0, "struct_sfi": good}, {"index": 1, "struct_sfi": "[C 3][Xx 3]"},
            {"index": 2, "struct_sfi": "[Og 1]"}, {"index": 3, "struct_sfi": "[C 2][Branch1 5][C -1][O 1]"},
            {"index": 4, "struct_sfi": good}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.sdf"
    assert main(["mol3d", "decode", "--in", str(src), "--out", str(out), "--no-mmff", "--no-progress",
                 "--checkpoint", str(checkpoint())]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["written"], summary["rejected"]) == (2, 3)
    assert [m.GetProp("index") for m in Chem.SDMolSupplier(str(out), removeHs=False)] == ["0", "4"]
    rejects = {r["index"]: r for r in _lines(tmp_path / "out.sdf.rejects.jsonl")}
    assert "token 1 [Xx 3]: SELFIES cannot decode [Xx]" in rejects[1]["error"] and rejects[1]["line"] == 2
    assert "token 0 [Og 1]" in rejects[2]["error"]
    assert "[Branch1 5] makes no atom" in rejects[3]["error"]


# ---------------------------------------------------------------- option values (issue 10 §3)

@pytest.mark.parametrize("args", [
    ["train", "--in", "x.sdf", "--out", "o.bin", "--codes", "0"],
    ["train", "--in", "x.sdf", "--out", "o.bin", "--steps", "0"],
    ["train", "--in", "x.sdf", "--out", "o.bin", "--batch-size", "0"],
    ["train", "--in", "x.sdf", "--out", "o.bin", "--hidden-dim", "-4"],
    ["train", "--in", "x.sdf", "--out", "o.bin", "--lr", "nan"],
    ["encode", "--in", "x.sdf", "--out", "o.jsonl", "--workers", "0"],
    ["encode", "--in", "x.sdf", "--out", "o.jsonl", "--chunk-size", "0"],
    ["encode", "--in", "x.sdf", "--out", "o.jsonl", "--max-atoms", "0"],
    ["encode", "--in", "x.sdf", "--out", "o.jsonl", "--max-embed-atoms", "0"],
    ["encode", "--in", "x.sdf", "--out", "o.jsonl", "--isotopes", "keep"],
    ["decode", "--in", "x.jsonl", "--out", "o.sdf", "--workers", "-1"],
])
def test_values_that_cannot_work_are_refused_by_argparse(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(["mol3d", *args])
    assert info.value.code == 2
    assert "error: argument" in capsys.readouterr().err


# ---------------------------------------------------------------- inputs through the io layer (issue 9)

def test_truncated_gzip_is_one_error_and_leaves_no_output(tmp_path, capsys):
    mol = embed_3d("CCO")
    data = gzip.compress((Chem.MolToMolBlock(mol) + "$$$$\n").encode() * 200)
    src = tmp_path / "cut.sdf.gz"
    src.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out.jsonl"
    assert main(["mol3d", "encode", "--in", str(src), "--out", str(out), "--no-progress",
                 "--checkpoint", str(checkpoint())]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "cut.sdf.gz: truncated or corrupt gzip stream" in err
    assert list(tmp_path.iterdir()) == [src]  # neither a partial out.jsonl nor a temporary file


def test_non_utf8_smiles_line_is_a_reject_for_that_line(tmp_path, capsys):
    smi = tmp_path / "in.smi"
    smi.write_bytes(b"CCO ethanol\nCC\xff\xfeO broken\nCCN ethylamine\n")
    out = tmp_path / "out.jsonl"
    assert main(["mol3d", "encode", "--in", str(smi), "--out", str(out), "--embed", "--no-progress",
                 "--checkpoint", str(checkpoint())]) == 0
    lines = _lines(out)
    assert [("error" in line) for line in lines] == [False, True, False]
    assert "not UTF-8" in lines[1]["error"]
