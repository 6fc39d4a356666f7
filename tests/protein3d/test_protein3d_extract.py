import gzip
import json
from dataclasses import replace

import numpy as np
import pytest

from biomatrix_plugin.cli import main as biomatrix_main
from biomatrix_plugin.protein3d.backbone import extract_chains
from biomatrix_plugin.protein3d.structure_io import StructureFileError, write_backbone
from protein3d_builders import Atom, chain_atoms, edit, helix, pdb_text, strand, write

SEQ12 = "MKTAYIAKQRQI"
FORMATS = ["pdb", "cif"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_ideal_helix_round_trip_exact(tmp_path, fmt):
    bb = helix(12)
    path = write(tmp_path / f"helix.{fmt}", chain_atoms(bb, SEQ12))
    result = extract_chains(path)
    assert len(result.chains) == 1 and not result.rejected
    chain = result.chains[0]
    assert chain.id == "helix_chain_id_A"
    assert chain.sequence == SEQ12
    assert chain.backbone.shape == (12, 3, 3)
    np.testing.assert_allclose(chain.backbone, np.round(bb, 3), atol=1e-6)
    assert chain.dropped == [] and chain.breaks == []


@pytest.mark.parametrize("suffix", ["pdb", "cif", "bcif", "pdb.gz", "cif.gz", "bcif.gz"])
def test_biotite_written_formats_and_gzip(tmp_path, suffix):
    bb = strand(8)
    path = write_backbone(tmp_path / f"strand.{suffix}", bb, "ACDEFGHI")
    if suffix.endswith(".gz"):
        assert path.read_bytes()[:2] == b"\x1f\x8b"
    chain = extract_chains(path).chains[0]
    assert chain.sequence == "ACDEFGHI"
    np.testing.assert_allclose(chain.backbone, bb, atol=6e-4)  # PDB keeps 3 decimals


def test_content_sniffing_for_unknown_suffix(tmp_path):
    bb = helix(5)
    cif = write(tmp_path / "x.cif", chain_atoms(bb, "MKTAY"))
    odd = tmp_path / "AF-P00000-F1-model"
    odd.write_bytes(gzip.compress(cif.read_bytes()))
    assert extract_chains(odd).chains[0].sequence == "MKTAY"


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_ca_is_dropped_and_break_listed(tmp_path, fmt):
    bb = helix(12)
    atoms = [a for a in chain_atoms(bb, SEQ12) if not (a.res_id == 5 and a.name == "CA")]
    chain = extract_chains(write(tmp_path / f"m.{fmt}", atoms)).chains[0]
    assert chain.sequence == SEQ12[:4] + SEQ12[5:]
    np.testing.assert_allclose(chain.backbone, np.round(np.delete(bb, 4, axis=0), 3), atol=1e-6)
    assert [(d.residue, d.reason) for d in chain.dropped] == [("TYR 5", "missing CA")]
    # residue 4 (index 3) to residue 6 (index 4): C(4)-N(6) spans the missing residue
    assert len(chain.breaks) == 1
    brk = chain.breaks[0]
    assert (brk.after, brk.from_residue, brk.to_residue) == (3, "ALA 4", "ILE 6")
    assert brk.distance == pytest.approx(np.linalg.norm(np.round(bb[5, 0], 3) - np.round(bb[3, 2], 3)), abs=1e-5)


@pytest.mark.parametrize("fmt", FORMATS)
def test_mse_hetatm_maps_to_met_and_modified_parents(tmp_path, fmt):
    bb = helix(6)
    atoms = chain_atoms(bb, "AAAAAA")
    atoms = edit(atoms, 1, record="HETATM", res_name="MSE")  # N-terminal selenomethionine
    atoms = edit(atoms, 3, record="HETATM", res_name="SEP")  # phosphoserine inside the chain
    atoms = edit(atoms, 4, res_name="SEC")
    atoms = edit(atoms, 5, res_name="PYL")
    atoms = edit(atoms, 6, res_name="QQQ")  # a CCD non-polymer written as an ATOM residue -> X
    atoms.append(Atom("HETATM", "SE", "MSE", "A", 1, (1.0, 1.0, 1.0), "SE"))
    chain = extract_chains(write(tmp_path / f"mod.{fmt}", atoms)).chains[0]
    assert chain.sequence == "MASUOX"
    assert [n["residue"] for n in chain.nonstandard] == ["MSE 1", "SEP 3", "SEC 4", "PYL 5", "QQQ 6"]
    assert chain.dropped == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_altlocs_highest_occupancy_wins(tmp_path, fmt):
    bb = helix(6)
    atoms = chain_atoms(bb, "MKTAYI")
    out = []
    for a in atoms:
        if a.res_id == 3:
            shifted = tuple(v + 2.0 for v in a.xyz)
            out.append(replace(a, altloc="A", occupancy=0.3, xyz=shifted))
            out.append(replace(a, altloc="B", occupancy=0.7))
        else:
            out.append(a)
    chain = extract_chains(write(tmp_path / f"alt.{fmt}", out)).chains[0]
    assert chain.sequence == "MKTAYI"
    np.testing.assert_allclose(chain.backbone, np.round(bb, 3), atol=1e-6)
    assert chain.breaks == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_chains_waters_and_ligands(tmp_path, fmt):
    atoms = chain_atoms(helix(6), "MKTAYI", "A") + chain_atoms(strand(4), "GSGS", "B")
    atoms += [Atom("HETATM", "O", "HOH", "A", 101, (30.0, 30.0, 30.0), "O"),
              Atom("HETATM", "O", "HOH", "W", 1, (31.0, 30.0, 30.0), "O"),
              Atom("HETATM", "C1", "NAG", "B", 201, (40.0, 0.0, 0.0), "C")]
    # a free alanine ligand far from the chain: an amino acid, but not part of the polymer
    atoms += [replace(a, record="HETATM", res_id=301, xyz=tuple(np.add(a.xyz, 50.0)))
              for a in chain_atoms(helix(1), "A", "A")]
    path = write(tmp_path / f"two.{fmt}", atoms)
    result = extract_chains(path)
    assert [(c.chain, c.sequence) for c in result.chains] == [("A", "MKTAYI"), ("B", "GSGS")]
    assert [s["chain"] for s in result.skipped] == ["W"]
    only_b = extract_chains(path, chain="B")
    assert [c.chain for c in only_b.chains] == ["B"]
    with pytest.raises(StructureFileError, match="no chain 'C'"):
        extract_chains(path, chain="C")
    with pytest.raises(StructureFileError, match="not a protein chain"):
        extract_chains(path, chain="W")


def test_chain_break_from_displacement(tmp_path):
    bb = helix(10)
    bb[6:] += np.array([0.0, 0.0, 6.0])
    chain = extract_chains(write(tmp_path / "gap.pdb", chain_atoms(bb, "A" * 10))).chains[0]
    assert [(b.after, b.from_residue, b.to_residue) for b in chain.breaks] == [(5, "ALA 6", "ALA 7")]
    assert chain.dropped == []


def test_nan_coordinates_are_dropped_with_reason(tmp_path):
    bb = helix(5)
    atoms = chain_atoms(bb, "MKTAY")
    atoms = [replace(a, xyz=(float("nan"),) * 3) if (a.res_id == 2 and a.name == "C") else a for a in atoms]
    chain = extract_chains(write(tmp_path / "nan.pdb", atoms)).chains[0]
    assert chain.sequence == "MTAY"
    assert [(d.residue, d.reason) for d in chain.dropped] == [("LYS 2", "non-finite coordinates in C")]


def test_bad_inputs_name_the_file(tmp_path):
    junk = tmp_path / "junk.pdb"
    junk.write_text("hello world\n")
    with pytest.raises(StructureFileError, match="junk.pdb"):
        extract_chains(junk)
    empty = tmp_path / "empty.cif"
    empty.write_text("")
    with pytest.raises(StructureFileError, match="empty.cif: empty file"):
        extract_chains(empty)
    notgz = tmp_path / "bad.cif.gz"
    notgz.write_bytes(gzip.compress(b"data_x\n")[:12])
    with pytest.raises(StructureFileError, match="bad.cif.gz"):
        extract_chains(notgz)
    water_only = write(tmp_path / "water.pdb", [Atom("HETATM", "O", "HOH", "A", 1, (0.0, 0.0, 0.0), "O")])
    with pytest.raises(StructureFileError, match="no protein chain"):
        extract_chains(water_only)
    with pytest.raises(StructureFileError, match="missing.pdb: cannot open"):
        extract_chains(tmp_path / "missing.pdb")


def test_truncated_mmcif_is_an_error_not_a_short_chain(tmp_path):
    text = write(tmp_path / "full.cif", chain_atoms(helix(12), SEQ12)).read_text()
    cut = tmp_path / "cut.cif"
    cut.write_text(text[: len(text) // 2])  # ends in the middle of an atom_site row
    with pytest.raises(StructureFileError, match="cut.cif"):
        extract_chains(cut)


def test_ca_only_chain_is_rejected_with_reason(tmp_path):
    atoms = [a for a in chain_atoms(helix(4), "MKTA", "A") if a.name == "CA"]
    atoms += chain_atoms(strand(3), "GSG", "B")
    result = extract_chains(write(tmp_path / "ca.pdb", atoms))
    assert [c.chain for c in result.chains] == ["B"]
    assert result.rejected[0]["chain"] == "A"
    assert "no residue with N, CA and C" in result.rejected[0]["reason"]


def test_cli_extract_prints_one_json_per_chain(tmp_path, capsys):
    bb = helix(6)
    atoms = chain_atoms(bb, "MKTAYI", "A") + chain_atoms(strand(4), "GSGS", "B")
    path = write(tmp_path / "two.cif", atoms)
    assert biomatrix_main(["protein", "extract", "--structure", str(path)]) == 0
    out = capsys.readouterr()
    records = [json.loads(line) for line in out.out.splitlines()]
    assert [r["id"] for r in records] == ["two_chain_id_A", "two_chain_id_B"]
    assert {"id", "sequence", "backbone", "dropped", "breaks"} <= set(records[0])
    np.testing.assert_allclose(np.array(records[0]["backbone"]), np.round(bb, 3), atol=1e-6)
    assert "2 chain(s) written, 0 rejected" in out.err
    assert biomatrix_main(["protein", "extract", "--structure", str(path), "--chain", "B"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["sequence"] for r in records] == ["GSGS"]


def test_cli_extract_batch_reports_rejects(tmp_path, capsys):
    good = write(tmp_path / "good.pdb", chain_atoms(helix(4), "MKTA"))
    bad = tmp_path / "bad.pdb"
    bad.write_text("not a structure\n")
    rejects = tmp_path / "rejects.jsonl"
    out_file = tmp_path / "chains.jsonl"
    code = biomatrix_main(["protein", "extract", "--structure", str(good), str(bad),
                           "--output", str(out_file), "--rejects", str(rejects)])
    assert code == 1  # something was rejected
    assert [json.loads(l)["id"] for l in out_file.read_text().splitlines()] == ["good_chain_id_A"]
    rej = [json.loads(l) for l in rejects.read_text().splitlines()]
    assert len(rej) == 1 and rej[0]["source"] == str(bad) and "bad.pdb" in rej[0]["reason"]
    assert "1 chain(s) written, 1 rejected" in capsys.readouterr().err


def test_first_model_only(tmp_path):
    bb = helix(5)
    first = pdb_text(chain_atoms(bb, "MKTAY")).replace("END\n", "")
    second = pdb_text(chain_atoms(bb + 10.0, "MKTAY")).replace("END\n", "")
    path = tmp_path / "nmr.pdb"
    path.write_text("MODEL        1\n" + first + "ENDMDL\nMODEL        2\n" + second + "ENDMDL\nEND\n")
    result = extract_chains(path)
    assert len(result.chains) == 1
    np.testing.assert_allclose(result.chains[0].backbone, np.round(bb, 3), atol=1e-6)


@pytest.mark.parametrize("fmt", FORMATS)
def test_insertion_codes_are_distinct_residues(tmp_path, fmt):
    bb = helix(4)
    atoms = chain_atoms(bb, "MKTA")
    atoms = [replace(a, res_id=2, ins_code="A") if a.res_id == 3 else a for a in atoms]  # 1, 2, 2A, 4
    chain = extract_chains(write(tmp_path / f"ins.{fmt}", atoms)).chains[0]
    assert chain.sequence == "MKTA"
    assert chain.residues == ["MET 1", "LYS 2", "THR 2A", "ALA 4"]
    assert chain.breaks == []


def test_cli_compare(tmp_path, capsys):
    bb = helix(30)
    ref = write_backbone(tmp_path / "ref.pdb", bb, "A" * 30)
    moved = bb.copy()
    moved[15:] += np.array([25.0, 0.0, 0.0])
    pred = write_backbone(tmp_path / "pred.cif", moved, "A" * 30)
    assert biomatrix_main(["protein", "compare", "--pred", str(pred), "--ref", str(ref)]) == 0
    report = json.loads(capsys.readouterr().out)
    d0 = 1.24 * 15 ** (1 / 3) - 1.8
    assert report["length"] == 30
    assert report["tm_score"] == pytest.approx(0.5 + 0.5 / (1 + (25.0 / d0) ** 2), abs=2e-3)
    short = write_backbone(tmp_path / "short.pdb", bb[:20], "A" * 20)
    assert biomatrix_main(["protein", "compare", "--pred", str(short), "--ref", str(ref)]) == 1
    assert "lengths differ" in capsys.readouterr().err


def test_minimal_pdb_lines_without_occupancy(tmp_path):
    bb = helix(3)
    lines = [line[:54] for line in pdb_text(chain_atoms(bb, "MKT")).splitlines() if line.startswith("ATOM")]
    path = tmp_path / "minimal.pdb"
    path.write_text("\n".join(lines) + "\nEND\n")
    chain = extract_chains(path).chains[0]
    assert chain.sequence == "MKT"
    np.testing.assert_allclose(chain.backbone, np.round(bb, 3), atol=1e-6)
