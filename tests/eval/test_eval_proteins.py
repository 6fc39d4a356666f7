"""Protein metrics: identities (TM = 1, RMSD = 0), rigid-motion invariance, biotite cross-check, and the
injected folding-model interface."""

from __future__ import annotations

import numpy as np
import pytest

from biomatrix_plugin.eval import EvalInputError, compute, proteins


def random_chain(n: int, seed: int) -> np.ndarray:
    """A CA-like random walk with 3.8 A steps."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(size=(n, 3))
    steps *= 3.8 / np.linalg.norm(steps, axis=1, keepdims=True)
    return np.cumsum(steps, axis=0)


def rigid_motion(x: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return x @ q.T + rng.normal(size=3) * 10


def test_aar_hand_computed_and_length_mismatch():
    r = compute("aar", ["ACDF", "<|prot_aa_start|><A M><A K><|prot_aa_end|>", "ACD", ""],
                ["ACDE", "MR", "ACDE", "MK"])
    # scored: 3/4 and 1/2; length mismatch and empty are invalid
    assert r.value == pytest.approx((0.75 + 0.5) / 2)
    assert (r.n_items, r.n_invalid) == (4, 2)
    with pytest.raises(EvalInputError, match="reference item 1"):
        compute("aar", ["AC"], [""])


def test_rmsd_and_tm_identity_and_rigid_invariance():
    x = random_chain(60, 0)
    moved = rigid_motion(x, 1)
    r = compute("rmsd", [moved.tolist()], [x.tolist()])
    assert r.value == pytest.approx(0.0, abs=1e-6)
    t = compute("tm_score", [moved.tolist()], [x.tolist()])
    assert t.value == pytest.approx(1.0, abs=1e-6)
    t = compute("tm_score", [moved.tolist()], [x.tolist()], align="residue")
    assert t.value == pytest.approx(1.0, abs=1e-6)


def test_tm_align_and_residue_matched_agree_when_alignment_is_trivial():
    x = random_chain(50, 10)
    noisy = x + np.random.default_rng(11).normal(scale=0.8, size=x.shape)
    a = compute("tm_score", [noisy.tolist()], [x.tolist()]).value
    b = compute("tm_score", [noisy.tolist()], [x.tolist()], align="residue").value
    assert a == pytest.approx(b, abs=0.02) and 0.5 < a < 1.0


def test_rmsd_matches_biotite_superimposition():
    import biotite.structure as struc

    a, b = random_chain(40, 2), random_chain(40, 3)
    fitted, _ = struc.superimpose(a, b)
    expected = float(struc.rmsd(a, fitted))
    assert compute("rmsd", [b.tolist()], [a.tolist()]).value == pytest.approx(expected, rel=1e-6)


def test_tm_score_unrelated_chains_low_and_invalid_items_counted():
    a, b = random_chain(80, 4), random_chain(80, 5)
    r = compute("tm_score", [b.tolist(), [[0, 0]], "missing.pdb"], [a.tolist()] * 3)
    assert r.value < 0.35
    assert r.n_invalid == 2
    r = compute("rmsd", [random_chain(30, 6).tolist()], [a.tolist()])
    assert r.status == "not_computed" and r.n_invalid == 1  # length mismatch


def test_structure_file_input(tmp_path):
    import biotite.structure as struc
    import biotite.structure.io.pdb as pdb

    x = random_chain(20, 7)
    atoms = struc.AtomArray(20)
    atoms.coord = x
    atoms.atom_name[:] = "CA"
    atoms.res_name[:] = "ALA"
    atoms.res_id = np.arange(1, 21)
    atoms.chain_id[:] = "A"
    atoms.element[:] = "C"
    atoms.hetero[:] = False
    f = pdb.PDBFile()
    f.set_structure(atoms)
    path = tmp_path / "model.pdb"
    f.write(str(path))
    r = compute("rmsd", [str(path)], [x.tolist()])
    assert r.value == pytest.approx(0.0, abs=1e-3)  # PDB stores 3 decimals


def test_gzipped_structure_files_as_predictions_and_references(tmp_path):
    from biomatrix_plugin.protein3d.structure_io import write_backbone

    ca = random_chain(25, 8)
    # N and C 1.45 / 1.52 A off the CA: only the CA atoms are read back
    backbone = np.stack([ca + [1.45, 0, 0], ca, ca + [0, 1.52, 0]], axis=1)
    paths = [write_backbone(tmp_path / name, backbone) for name in ("a.pdb.gz", "a.cif.gz", "a.pdb")]
    r = compute("rmsd", [str(p) for p in paths], [ca.tolist()] * 3)
    assert r.value == pytest.approx(0.0, abs=2e-3) and (r.n_items, r.n_invalid) == (3, 0)
    assert compute("tm_score", [ca.tolist()] * 2, [str(paths[0]), str(paths[1])]).value == pytest.approx(1.0, abs=1e-3)
    broken = tmp_path / "ref.pdb.gz"
    broken.write_bytes(b"\x1f\x8b not gzip at all")
    with pytest.raises(EvalInputError, match=r"reference item 1 .*ref.pdb.gz.*gzip"):
        compute("rmsd", [ca.tolist()], [str(broken)])
    with pytest.raises(EvalInputError, match=r"reference item 1 .*cannot open"):
        compute("rmsd", [ca.tolist()], [str(tmp_path / "missing.cif")])


def test_only_uppercase_letters_are_a_sequence():
    from biomatrix_plugin.eval.proteins import protein_sequence

    assert protein_sequence(" MKV LLA\nGG ") == "MKVLLAGG"
    # prose and lowercase are no designs: AAR counts them invalid instead of scoring 'mkv' 1.0 against MKV
    for text in ("mkv", "I cannot design this protein", "MKV-LL", "MKV1", "Mkv"):
        assert protein_sequence(text) is None, text
    r = compute("aar", ["mkv", "MKV", "I cannot design this protein"], ["MKV", "MKV", "MKVLLAGGICANNOTDESIGNT"])
    assert (r.value, r.n_invalid) == (1.0, 2)
    assert compute("rep", ["I cannot design this protein", "AAAAAA"]).n_invalid == 1


def test_reference_structure_must_be_valid():
    with pytest.raises(EvalInputError, match="reference item 1"):
        compute("tm_score", [random_chain(10, 0).tolist()], [[[1, 2]]])


class FakeFolder:
    """Stands in for ESMFold (weights + GPU): folds every sequence into a fixed backbone."""

    def __init__(self, coords: np.ndarray, plddt: float):
        self.coords, self.plddt, self.calls = coords, plddt, []

    def fold(self, sequence: str):
        self.calls.append(sequence)
        return self.coords[: len(sequence)], self.plddt


def test_self_consistency_metrics_need_an_injected_predictor():
    x = random_chain(30, 8)
    for name in ("sctm", "scrmsd"):
        r = compute(name, ["A" * 30], [x.tolist()])
        assert r.status == "not_computed" and "ESMFold" in r.reason
    assert compute("plddt", ["A" * 30]).status == "not_computed"
    assert "ProtGPT2" in compute("ppl", ["A" * 30]).reason

    folder = FakeFolder(rigid_motion(x, 9), 87.5)
    proteins.set_structure_predictor(folder)
    try:
        assert compute("sctm", ["A" * 30, "12"], [x.tolist(), x.tolist()]).value == pytest.approx(1.0, abs=1e-6)
        r = compute("scrmsd", ["A" * 30], [x.tolist()])
        assert r.value == pytest.approx(0.0, abs=1e-6)
        assert compute("plddt", ["A" * 30, "MKV"]).value == pytest.approx(87.5)
        assert folder.calls[0] == "A" * 30
    finally:
        proteins.set_structure_predictor(None)
