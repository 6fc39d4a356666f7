"""Corpus CLI (encode/decode, workers, rejects) and the trainer, end to end on real files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch
from rdkit import Chem, RDConfig

from biomatrix_plugin.cli import main
from biomatrix_plugin.mol3d import MolStrucTok, embed_3d
from mol3d_shared import checkpoint, golden_records, tokenizer

CDK2 = Path(RDConfig.RDContribDir) / "Fastcluster" / "testdata" / "cdk2.sdf"


def _write_sdf(path: Path, mols_or_blocks) -> None:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as fh:
        for item in mols_or_blocks:
            block = item if isinstance(item, str) else Chem.MolToMolBlock(item)
            fh.write(block.rstrip("\n") + "\n$$$$\n")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    recs = golden_records()
    blocks = [r["molblock"] for r in recs[:30]]
    salt = Chem.AddHs(Chem.MolFromSmiles("C[NH3+].[Cl-]"))
    from rdkit.Chem import AllChem
    AllChem.EmbedMolecule(salt, randomSeed=1)
    flat = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.Compute2DCoords(flat)
    blocks[5:5] = [Chem.MolToMolBlock(salt), "garbage\n\nnot a molblock\n", Chem.MolToMolBlock(flat)]
    path = tmp_path_factory.mktemp("corpus") / "in.sdf.gz"
    _write_sdf(path, blocks)
    return path


@pytest.mark.slow
def test_encode_cli_two_workers_in_order_with_rejects(corpus, tmp_path, capsys):
    ck = str(checkpoint())
    out1, out2 = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert main(["mol3d", "encode", "--in", str(corpus), "--out", str(out1), "--checkpoint", ck, "--quiet"]) == 0
    assert main(["mol3d", "encode", "--in", str(corpus), "--out", str(out2), "--checkpoint", ck, "--quiet",
                 "--workers", "2", "--chunk-size", "4"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary == {"out": str(out2), "written": 30, "rejected": 3, "isotope_warnings": 0}
    assert out1.read_text() == out2.read_text()
    lines = [json.loads(l) for l in out2.read_text().splitlines()]
    assert [l["index"] for l in lines] == list(range(33))
    assert "disconnected fragments" in lines[5]["error"]
    assert "could not parse" in lines[6]["error"] and lines[6]["error"].startswith("record 6")
    assert "2D" in lines[7]["error"]
    gold = golden_records()
    kept = [l for l in lines if "error" not in l]
    assert [l["struct_sfi"] for l in kept] == [g["struct_sfi"] for g in gold[:30]]


@pytest.mark.slow
def test_decode_cli_writes_sdf_and_rejects(corpus, tmp_path, capsys):
    ck = str(checkpoint())
    enc = tmp_path / "enc.jsonl"
    main(["mol3d", "encode", "--in", str(corpus), "--out", str(enc), "--checkpoint", ck, "--quiet"])
    with open(enc, "a") as fh:
        fh.write(json.dumps({"index": 99, "struct_sfi": "[C 1][O 700]"}) + "\n")
        fh.write("{not json\n")
    sdf = tmp_path / "out.sdf"
    assert main(["mol3d", "decode", "--in", str(enc), "--out", str(sdf), "--checkpoint", ck, "--quiet",
                 "--no-mmff", "--workers", "2", "--chunk-size", "8"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["written"], summary["rejected"]) == (30, 5)
    mols = [m for m in Chem.SDMolSupplier(str(sdf), removeHs=False)]
    assert len(mols) == 30 and all(m is not None and m.GetConformer().Is3D() for m in mols)
    rejects = [json.loads(l) for l in Path(summary["rejects"]).read_text().splitlines()]
    assert any("outside 0-511" in r["error"] for r in rejects)
    assert any("not JSON" in r["error"] for r in rejects)
    gold = golden_records()
    assert [m.GetProp("smiles") for m in mols[:3]] == [
        Chem.MolToSmiles(Chem.RemoveHs(tokenizer().decode(g["struct_sfi"]))) for g in gold[:3]]


def test_encode_cli_missing_file(tmp_path, capsys):
    assert main(["mol3d", "encode", "--in", str(tmp_path / "nope.sdf"), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.slow
def test_train_cli_tiny_run_writes_loadable_checkpoint(tmp_path, capsys):
    if not CDK2.exists():
        pytest.skip(f"RDKit's bundled cdk2.sdf is missing: {CDK2}")
    out = tmp_path / "tiny.bin"
    assert main(["mol3d", "train", "--in", str(CDK2), "--out", str(out), "--steps", "40", "--batch-size", "256",
                 "--codes", "32", "--hidden-dim", "32", "--latent-dim", "16", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["molecules"] == 47 and report["atoms"] > 1000
    assert (tmp_path / "tiny.bin.png").stat().st_size > 0
    sd = torch.load(out, weights_only=True)
    assert sd["quantizer.embedding.weight"].shape == (32, 16)
    tok = MolStrucTok(out)
    res = tok.encode_mol(embed_3d("CC(=O)Nc1ccc(O)cc1"))
    assert all(0 <= c < 32 for c in res.codes)
    mol = tok.decode(res.struct_sfi)
    assert mol.GetNumAtoms() == len(res.codes)
    history = json.loads(Path(str(out) + ".json").read_text())
    first, last = history["history"][0], history["history"][-1]
    assert last["loss"] < 0.5 * first["loss"]
    assert last["perplexity"] > 4  # more than a handful of the 32 codes in use


def test_encode_cli_smiles_with_embed_and_mol2(tmp_path, capsys):
    ck = str(checkpoint())
    smi = tmp_path / "in.smi"
    smi.write_text("CC(=O)Nc1ccc(O)cc1 paracetamol\nnot_a_smiles bad\nC[NH3+].[Cl-] salt\n")
    out = tmp_path / "smi.jsonl"
    assert main(["mol3d", "encode", "--in", str(smi), "--out", str(out), "--checkpoint", ck, "--quiet"]) == 1
    lines = [json.loads(l) for l in out.read_text().splitlines()]
    assert all("--embed" in l["error"] or "cannot parse" in l["error"] for l in lines)
    assert main(["mol3d", "encode", "--in", str(smi), "--out", str(out), "--checkpoint", ck, "--quiet",
                 "--embed"]) == 0
    lines = [json.loads(l) for l in out.read_text().splitlines()]
    assert lines[0]["name"] == "paracetamol" and len(lines[0]["codes"]) == 20
    assert "cannot parse" in lines[1]["error"] and "fragments" in lines[2]["error"]

    mol = embed_3d("OCCN")
    mol2 = tmp_path / "in.mol2"
    # RDKit writes no MOL2; build a minimal Tripos record from the embedded molecule.
    conf = mol.GetConformer()
    types = {1: "H", 6: "C.3", 7: "N.3", 8: "O.3"}
    positions = [conf.GetAtomPosition(i) for i in range(mol.GetNumAtoms())]
    atoms = "".join(f"{i + 1} {a.GetSymbol()}{i + 1} {p.x:.4f} {p.y:.4f} {p.z:.4f} "
                    f"{types[a.GetAtomicNum()]} 1 MOL 0.0\n"
                    for i, (a, p) in enumerate(zip(mol.GetAtoms(), positions)))
    bonds = "".join(f"{i + 1} {b.GetBeginAtomIdx() + 1} {b.GetEndAtomIdx() + 1} 1\n"
                    for i, b in enumerate(mol.GetBonds()))
    mol2.write_text(f"@<TRIPOS>MOLECULE\nethanolamine\n{mol.GetNumAtoms()} {mol.GetNumBonds()} 0 0 0\n"
                    "SMALL\nNO_CHARGES\n\n"
                    f"@<TRIPOS>ATOM\n{atoms}@<TRIPOS>BOND\n{bonds}")
    out2 = tmp_path / "mol2.jsonl"
    assert main(["mol3d", "encode", "--in", str(mol2), "--out", str(out2), "--checkpoint", ck, "--quiet"]) == 0
    rec = json.loads(out2.read_text())
    assert rec["name"] == "ethanolamine"
    assert rec["struct_sfi"] == tokenizer().encode_mol(mol).struct_sfi
    assert main(["mol3d", "encode", "--in", str(tmp_path / "x.pdbqt"), "--out", str(out2)]) == 2


def test_train_cli_max_molecules_holds_across_input_files(tmp_path, capsys):
    if not CDK2.exists():
        pytest.skip(f"RDKit's bundled cdk2.sdf is missing: {CDK2}")
    out = tmp_path / "tiny.bin"
    # three copies of the 47-molecule file: exactly 5 molecules are read, not 5 + 1 per further file
    assert main(["mol3d", "train", "--in", str(CDK2), str(CDK2), str(CDK2), "--out", str(out), "--steps", "1",
                 "--batch-size", "64", "--codes", "8", "--hidden-dim", "8", "--latent-dim", "4",
                 "--max-molecules", "5", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["molecules"] == 5  # molecules read (rejected ones included)
