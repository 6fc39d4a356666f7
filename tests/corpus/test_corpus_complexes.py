"""3D complexes: CrossDocked2020 protein–ligand poses and PPIRef protein–protein pairs, on fixtures in the
real layouts (tests/corpus/fixtures/make_complex_fixtures.py), including broken records."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest
import selfies as sf
from rdkit import Chem

from biomatrix_plugin.corpus.builders import BUILDERS
from biomatrix_plugin.corpus.complexes import parse_types_line
from biomatrix_plugin.corpus.compose import record_rng
from biomatrix_plugin.corpus.records import RecordRejected, iter_records, parse_record
from biomatrix_plugin.modalities.serialization import parse_joint_tokens, unwrap

FIX = Path(__file__).resolve().parent / "fixtures"
CD = FIX / "crossdocked"
TYPES = CD / "types" / "fx_crossdocked.types"
CD_PARAMS = {"structure_root": str(CD), "structure_codes": str(FIX / "crossdocked_vq_indices.csv")}
POCKET = CD / "1ABC_HUMAN_1_120_0"


@pytest.fixture(scope="module")
def molstructok():
    """The MolStrucTok checkpoint (the ligand's 3D view needs it); skip where this checkout has none."""
    from biomatrix_plugin.mol3d import Mol3DError, default_checkpoint

    try:
        return default_checkpoint()
    except Mol3DError as exc:
        pytest.skip(f"MolStrucTok checkpoint not available: {exc}")


def run(builder: str, fmt: str, files: list[Path], params: dict, seed: int = 0):
    accepted, rejected = {}, {}
    for rec in iter_records([str(f) for f in files], fmt):
        try:
            fields = parse_record(rec.raw, fmt)
            rng = record_rng(seed, builder, rec.source, rec.position)
            accepted[rec.where] = BUILDERS[builder].function(fields, rng, params)
        except RecordRejected as exc:
            rejected[rec.where] = str(exc)
    return accepted, rejected


def residues_in_file(path: Path, chain: str) -> str:
    """The chain's sequence straight from the file's residue names (biotite), independent of protein3d."""
    import biotite.structure as struc
    import biotite.structure.io as strucio

    atoms = strucio.load_structure(str(path))
    atoms = atoms[atoms.chain_id == chain]
    three = atoms.res_name[struc.get_residue_starts(atoms)]
    return "".join(struc.info.one_letter_code(n) for n in three)


def sdf_pose(path: Path, index: int) -> Chem.Mol:
    handle = gzip.open(path) if path.suffix == ".gz" else open(path, "rb")
    with handle:
        mols = list(Chem.ForwardSDMolSupplier(handle, removeHs=False))
    return mols[index]


def vq_row(path: Path, pid: str) -> list[int]:
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            if row["pid"] == pid:
                return [int(x) for x in row["indices"].split()]
    raise KeyError(pid)


def flat(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles), isomericSmiles=False)


# ---------------------------------------------------------------- CrossDocked2020

def test_types_lines_follow_the_gnina_layout():
    rec = parse_types_line("0 -6.0512 5.3046 P/1abc_A_rec_0.gninatypes "
                           "P/1abc_A_rec_x_lig_tt_docked_2.gninatypes # -5.01\n")
    assert rec == {"label": 0.0, "affinity": -6.0512, "rmsd": 5.3046, "receptor": "P/1abc_A_rec_0.gninatypes",
                   "ligand": "P/1abc_A_rec_x_lig_tt_docked_2.gninatypes", "vina_score": -5.01}
    with pytest.raises(RecordRejected, match="receptor and a ligand path"):
        parse_types_line("1 6.0 only_one_path.gninatypes")


def test_crossdocked_poses_become_complex_instances_and_bad_records_are_rejected(molstructok):
    accepted, rejected = run("protein_ligand_complex", "types", [TYPES], CD_PARAMS)
    assert sorted(accepted) == ["fx_crossdocked.types#0", "fx_crossdocked.types#1", "fx_crossdocked.types#9"]
    assert "decoy pose" in rejected["fx_crossdocked.types#2"]
    assert "pose 7 requested but the file has 3 entries" in rejected["fx_crossdocked.types#3"]
    assert "MolStrucTok" in rejected["fx_crossdocked.types#4"] and "fragments" in rejected["fx_crossdocked.types#4"]
    assert "RDKit cannot parse" in rejected["fx_crossdocked.types#5"]
    assert rejected["fx_crossdocked.types#6"].startswith("structure 2def_B_rec.pdb:")
    assert "not found" in rejected["fx_crossdocked.types#7"] and "9xyz_A_rec.pdb" in rejected["fx_crossdocked.types#7"]
    assert "receptor and a ligand path" in rejected["fx_crossdocked.types#8"]
    assert len(accepted) + len(rejected) == len(TYPES.read_text().splitlines())

    receptor = POCKET / "1abc_A_rec.pdb"
    codes = vq_row(FIX / "crossdocked_vq_indices.csv", "1abc_A_rec_chain_id_A")
    for where, pose_file, pose in (("fx_crossdocked.types#0", "1abc_A_rec_2xyz_bnz_lig_tt_min.sdf.gz", 0),
                                   ("fx_crossdocked.types#1", "1abc_A_rec_2xyz_bnz_lig_tt_docked.sdf.gz", 1)):
        (inst,) = accepted[where]
        u = unwrap(inst["text"])
        assert not u.errors, (where, u.errors)
        assert u.values("protein") == [residues_in_file(receptor, "A")]
        assert u.values("prot3d") == [codes]
        mol = sdf_pose(POCKET / pose_file, pose)
        (joint,) = u.values("mol3d")
        symbols = "".join(s for s, _ in parse_joint_tokens(joint))
        assert flat(sf.decoder(symbols)) == flat(Chem.MolToSmiles(Chem.RemoveHs(mol)))
        assert all(flat(s) == flat("NC(=O)c1ccccc1") for s in u.values("smiles"))
        assert all(flat(sf.decoder(s)) == flat("NC(=O)c1ccccc1") for s in u.values("selfies"))
        assert u.values("smiles") or u.values("selfies")
        assert inst["text"].endswith("Binding affinity: pK = 6.05.")
    assert "(RMSD 0.521 Å to the crystal pose)" in accepted["fx_crossdocked.types#0"][0]["text"]
    # the two poses are the same molecule in different conformations: same atoms, different 3D codes
    joint0 = unwrap(accepted["fx_crossdocked.types#0"][0]["text"]).first("mol3d")
    joint1 = unwrap(accepted["fx_crossdocked.types#1"][0]["text"]).first("mol3d")
    assert [s for s, _ in parse_joint_tokens(joint0)] == [s for s, _ in parse_joint_tokens(joint1)]
    assert joint0 != joint1
    # the pose is the one the index names: MolStrucTok of SDF entry 1 directly gives the same tokens
    from biomatrix_plugin.mol3d import mol_to_wrapped_3d

    pose = sdf_pose(POCKET / "1abc_A_rec_2xyz_bnz_lig_tt_docked.sdf.gz", 1)
    assert unwrap(mol_to_wrapped_3d(pose)).first("mol3d") == joint1
    # a receptor without precomputed codes keeps its 1D view only; affinity 0 means unknown: no statement
    third = accepted["fx_crossdocked.types#9"][0]["text"]
    assert unwrap(third).values("prot3d") == [] and unwrap(third).values("protein") == ["GSHMLEDPVAGLK"]
    assert "Binding affinity" not in third and unwrap(third).values("mol3d")


def test_decoys_can_be_kept_and_are_stated_as_decoys(molstructok):
    params = {**CD_PARAMS, "keep_decoys": True, "max_rmsd": None}
    accepted, _ = run("protein_ligand_complex", "types", [TYPES], params)
    text = accepted["fx_crossdocked.types#2"][0]["text"]
    # the types file marks the decoy's affinity with a minus sign; the statement carries the magnitude
    assert text.endswith("is a decoy, not the binding mode (RMSD 5.3 Å to the crystal pose). "
                         "Binding affinity: pK = 6.05.")
    accepted, rejected = run("protein_ligand_complex", "types", [TYPES], {**CD_PARAMS, "max_rmsd": 1.0})
    assert "RMSD 1.21 Å" in rejected["fx_crossdocked.types#1"] and "fx_crossdocked.types#0" in accepted


def test_crossdocked_instances_are_deterministic_for_a_seed(molstructok):
    a, _ = run("protein_ligand_complex", "types", [TYPES], CD_PARAMS, seed=3)
    b, _ = run("protein_ligand_complex", "types", [TYPES], CD_PARAMS, seed=3)
    assert a == b
    orders = set()
    for seed in range(12):
        acc, _ = run("protein_ligand_complex", "types", [TYPES], CD_PARAMS, seed=seed)
        orders.add(tuple(line.split(":")[0] for line in acc["fx_crossdocked.types#0"][0]["text"].split("\n")))
    assert len(orders) > 3  # components come in random order


def test_a_csv_index_with_pocket_files_and_relative_paths(tmp_path, molstructok):
    index = tmp_path / "index.csv"
    index.write_text("pocket,ligand_sdf,pose\n"
                     "1ABC_HUMAN_1_120_0/1abc_A_rec.pdb,1ABC_HUMAN_1_120_0/1abc_A_rec_2xyz_bnz_lig_tt_docked.sdf.gz,2\n"
                     "1ABC_HUMAN_1_120_0/1abc_A_rec.pdb,1ABC_HUMAN_1_120_0/missing.sdf,0\n"
                     "1ABC_HUMAN_1_120_0/1abc_A_rec.pdb,1ABC_HUMAN_1_120_0/1abc_A_rec.pdb,0\n")
    params = {"structure_root": str(CD),
              "columns": {"receptor": "pocket", "ligand": "ligand_sdf", "ligand_pose": "pose"},
              "receptor_label": "Binding pocket"}
    accepted, rejected = run("protein_ligand_complex", "csv", [index], params)
    (inst,) = accepted["index.csv#0"]
    assert "Binding pocket: <|prot_aa_start|>" in inst["text"] and "Binding affinity" not in inst["text"]
    from biomatrix_plugin.mol3d import mol_to_wrapped_3d

    pose2 = sdf_pose(POCKET / "1abc_A_rec_2xyz_bnz_lig_tt_docked.sdf.gz", 2)
    assert unwrap(inst["text"]).first("mol3d") == unwrap(mol_to_wrapped_3d(pose2)).first("mol3d")
    assert "missing.sdf" in rejected["index.csv#1"] and "not an SDF file" in rejected["index.csv#2"]
    _, rejected = run("protein_ligand_complex", "csv", [index], {"columns": params["columns"]})
    assert "no structure_root" in rejected["index.csv#0"]


# ---------------------------------------------------------------- PPIRef

PPI_FILES = sorted((FIX / "ppiref").iterdir())
PPI_PARAMS = {"structure_codes": str(FIX / "ppiref_vq_indices.csv")}


def test_ppiref_pairs_show_both_chains_and_bad_files_are_rejected():
    accepted, rejected = run("protein_complex", "structure", PPI_FILES, PPI_PARAMS)
    assert sorted(accepted) == ["1abc_A_B.pdb#0", "4cif_C_D.cif#0"]
    assert "1 protein chain(s) (A)" in rejected["2one_A_B.pdb#0"]
    assert rejected["3bad_A_B.pdb#0"].startswith("structure 3bad_A_B.pdb:")
    pdb = FIX / "ppiref" / "1abc_A_B.pdb"
    (inst,) = accepted["1abc_A_B.pdb#0"]
    u = unwrap(inst["text"])
    assert not u.errors
    assert sorted(u.values("protein")) == sorted([residues_in_file(pdb, "A"), residues_in_file(pdb, "B")])
    csv_path = FIX / "ppiref_vq_indices.csv"
    assert sorted(u.values("prot3d")) == sorted([vq_row(csv_path, "1abc_A_B_chain_id_A"),
                                                  vq_row(csv_path, "1abc_A_B_chain_id_B")])
    # each chain's views stay together and carry its chain label
    lines = inst["text"].split("\n")
    labels = [l.split(":")[0].replace(" 3D structure", "") for l in lines[:-1]]
    assert labels[0] == labels[1] and labels[2] == labels[3]
    assert {labels[0], labels[2]} == {"Protein chain A", "Protein chain B"}
    assert lines[-1].startswith("Chains ") and "form a protein–protein complex (1abc_A_B)" in lines[-1]
    assert "The interface involves" in lines[-1]
    # mmCIF works too; no codes for that entry -> 1D views only
    u = unwrap(accepted["4cif_C_D.cif#0"][0]["text"])
    assert sorted(u.values("protein")) == ["MKVLAGH", "WYTRE"] and u.values("prot3d") == []


def test_ppiref_interface_count_matches_a_direct_distance_check():
    import biotite.structure.io as strucio
    import numpy as np

    accepted, _ = run("protein_complex", "structure", [FIX / "ppiref" / "1abc_A_B.pdb"], {})
    statement = accepted["1abc_A_B.pdb#0"][0]["text"].split("\n")[-1]
    atoms = strucio.load_structure(str(FIX / "ppiref" / "1abc_A_B.pdb"))
    ca = atoms[atoms.atom_name == "CA"]
    a, b = ca[ca.chain_id == "A"].coord, ca[ca.chain_id == "B"].coord
    close = np.linalg.norm(a[:, None] - b[None], axis=-1) < 8.0
    expected = {"A": int(close.any(axis=1).sum()), "B": int(close.any(axis=0).sum())}
    first = statement.split("Chains ")[1][0]
    second = "B" if first == "A" else "A"
    assert f"involves {expected[first]} residues of chain {first} and {expected[second]} of chain {second}" in statement
    assert expected["A"] > 0


def test_mismatched_precomputed_codes_are_rejected_not_misaligned(tmp_path):
    table = tmp_path / "vq.csv"
    table.write_text("pid,indices,protein_sequence\n1abc_A_B_chain_id_A,1 2 3,MKV\n")
    _, rejected = run("protein_complex", "structure", [FIX / "ppiref" / "1abc_A_B.pdb"],
                      {"structure_codes": str(table)})
    assert "differs from the extracted one" in rejected["1abc_A_B.pdb#0"]


def test_fixture_cards_build_with_rejects_and_manifest(tmp_path, molstructok):
    import dataclasses

    import torch

    from biomatrix_plugin.corpus import build as build_mod
    from biomatrix_plugin.corpus.build import build_card
    from biomatrix_plugin.corpus.registry import load_card

    cards = Path(__file__).resolve().parent / "cards"
    threads = torch.get_num_threads()
    seen = []
    real_builder = BUILDERS["protein_ligand_complex"]
    spy = dataclasses.replace(
        real_builder,
        function=lambda r, rng, p: seen.append(torch.get_num_threads()) or real_builder.function(r, rng, p))
    BUILDERS["protein_ligand_complex"] = spy
    try:
        m = build_card(load_card(cards / "fx_crossdocked.yaml"), tmp_path / "a", n_shards=2, progress=False)
    finally:
        BUILDERS["protein_ligand_complex"] = real_builder
    # a shard is one core's work: MolStrucTok runs single-threaded inside it, the caller's setting comes back
    assert set(seen) == {1} and torch.get_num_threads() == threads
    assert "protein_ligand_complex" in build_mod.TORCH_BUILDERS
    assert (m["totals"]["records"], m["totals"]["written"], m["totals"]["rejected"]) == (10, 3, 7)
    one = build_card(load_card(cards / "fx_crossdocked.yaml"), tmp_path / "b", n_shards=1, progress=False)
    lines = lambda out: sorted(l for p in (out / "fx_crossdocked").glob("*.jsonl") for l in p.read_text().splitlines())
    assert lines(tmp_path / "a") == lines(tmp_path / "b") and one["totals"]["written"] == 3
    rejects_path = tmp_path / "a" / "_build" / "fx_crossdocked" / "rejects.jsonl"
    rejects = [json.loads(l) for l in rejects_path.read_text().splitlines()]
    assert sorted(r["position"] for r in rejects) == [2, 3, 4, 5, 6, 7, 8] and all(r["reason"] for r in rejects)
    m = build_card(load_card(cards / "fx_ppiref.yaml"), tmp_path / "a", n_shards=2, progress=False)
    assert (m["totals"]["records"], m["totals"]["written"], m["totals"]["rejected"]) == (4, 2, 2)
    assert m["shard_by"] == "file"


def test_production_cards_build_from_the_smoke_root(tmp_path, molstructok):
    """The registry's crossdocked2020 / ppiref / stitch / jglaser_binding cards on tests/corpus/smoke_root,
    which mirrors each source's real file layout (types index + pocket folders, ppi_6A/<xy>/, STITCH gz
    files, data/all.parquet)."""
    from biomatrix_plugin.corpus.build import build_card
    from biomatrix_plugin.corpus.registry import load_card

    repo = Path(__file__).resolve().parents[2]
    expected = {"crossdocked2020": (4, 3, 1), "ppiref": (1, 1, 0), "stitch": (7, 2, 5), "jglaser_binding": (6, 3, 3)}
    for name, counts in expected.items():
        m = build_card(load_card(repo / "data_registry" / "cards" / f"{name}.yaml"), tmp_path, n_shards=2,
                       data_root=repo / "tests" / "corpus" / "smoke_root", progress=False)
        t = m["totals"]
        assert (t["records"], t["written"], t["rejected"]) == counts, name
    rejects = (tmp_path / "_build" / "stitch" / "rejects.jsonl").read_text()
    assert "below min=700" in rejects  # the card keeps high-confidence links only


def test_a_types_card_without_structure_root_is_an_error_naming_the_field():
    import yaml

    from biomatrix_plugin.corpus.registry import validate_card

    card = yaml.safe_load((Path(__file__).resolve().parent / "cards" / "fx_crossdocked.yaml").read_text())
    assert validate_card(card, "fx_crossdocked.yaml") == []
    del card["builder"]["params"]["structure_root"]
    (error,) = validate_card(card, "fx_crossdocked.yaml")
    assert "builder.params.structure_root is required" in error
    card["builder"]["params"]["structure_codes"] = 3
    errors = validate_card(card, "fx_crossdocked.yaml")
    assert any("builder.params.structure_codes: must be a path, got 3" in e for e in errors)


def test_ppiref_from_an_index_with_relative_paths(tmp_path):
    index = tmp_path / "pairs.csv"
    index.write_text("pair_file\n1abc_A_B.pdb\nmissing_A_B.pdb\n")
    params = {"structure_root": str(FIX / "ppiref"), "columns": {"path": "pair_file"}}
    accepted, rejected = run("protein_complex", "csv", [index], params)
    direct, _ = run("protein_complex", "structure", [FIX / "ppiref" / "1abc_A_B.pdb"], {})
    assert unwrap(accepted["pairs.csv#0"][0]["text"]).values("protein") != []
    assert sorted(unwrap(accepted["pairs.csv#0"][0]["text"]).values("protein")) == \
        sorted(unwrap(direct["1abc_A_B.pdb#0"][0]["text"]).values("protein"))
    assert "missing_A_B.pdb" in rejected["pairs.csv#1"] and "not found" in rejected["pairs.csv#1"]
