import numpy as np
import pytest

from biomatrix_plugin.protein3d.comparison import kabsch_rmsd, superimpose, tm_d0, tm_score
from biomatrix_plugin.protein3d.geometry import build_backbone
from protein3d_builders import helix


def random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def random_backbone(rng, length, spread=40.0):
    return build_backbone(length, rng.normal(-60, spread, length), rng.normal(-40, spread * 1.5, length))


def test_identical_and_rigidly_moved_structures():
    rng = np.random.default_rng(0)
    bb = random_backbone(rng, 60)
    moved = bb @ random_rotation(rng).T + np.array([10.0, -3.0, 7.0])
    assert tm_score(bb, bb) == pytest.approx(1.0, abs=1e-12)
    assert tm_score(moved, bb) == pytest.approx(1.0, abs=1e-9)
    assert kabsch_rmsd(moved, bb) == pytest.approx(0.0, abs=1e-9)
    assert kabsch_rmsd(moved[:, 1], bb[:, 1]) == pytest.approx(0.0, abs=1e-9)
    rot, trans = superimpose(moved, bb)
    np.testing.assert_allclose(moved.reshape(-1, 3) @ rot.T + trans, bb.reshape(-1, 3), atol=1e-9)


def test_rmsd_of_a_scaled_square_is_closed_form():
    # A uniform scaling about the centroid cannot be undone by rotating or translating: the optimal
    # superposition is the identity and each corner is off by (s - 1) * |corner| = sqrt(2) for s = 2.
    a = np.array([[1.0, 1.0, 0.0], [-1.0, 1.0, 0.0], [-1.0, -1.0, 0.0], [1.0, -1.0, 0.0]])
    assert kabsch_rmsd(2.0 * a + 3.0, a) == pytest.approx(np.sqrt(2.0), abs=1e-9)


def test_mirror_image_is_not_superimposable():
    rng = np.random.default_rng(1)
    bb = random_backbone(rng, 50)
    mirrored = bb * np.array([-1.0, 1.0, 1.0])
    assert kabsch_rmsd(mirrored, bb) > 1.0  # a proper rotation cannot undo a reflection


def test_tm_score_half_displaced_matches_closed_form():
    # Second half translated by D: the best superposition fits the first half exactly and leaves the
    # second half exactly D away, so TM = 1/2 + 1/2 * 1/(1 + (D/d0)^2).
    ref = helix(80)
    pred = ref.copy()
    displacement = 30.0
    pred[40:] += np.array([displacement, 0.0, 0.0])
    d0 = tm_d0(80)
    assert d0 == pytest.approx(1.24 * 65 ** (1 / 3) - 1.8)
    expected = 0.5 + 0.5 / (1.0 + (displacement / d0) ** 2)
    assert tm_score(pred, ref) == pytest.approx(expected, abs=1e-6)


def test_d0_small_proteins():
    assert tm_d0(10) == 0.5 and tm_d0(21) == 0.5
    assert tm_d0(100) == pytest.approx(1.24 * 85 ** (1 / 3) - 1.8)


def test_against_tmtools_with_fixed_alignment():
    tmtools = pytest.importorskip("tmtools", reason="tmtools (pip install tmtools) gives an independent TM-score")
    rng = np.random.default_rng(7)
    for _ in range(12):
        length = int(rng.integers(25, 160))
        noise = rng.uniform(1.0, 12.0)  # degrees of torsion noise: similarity from high to low
        phi, psi = rng.normal(-60, 40, length), rng.normal(-40, 60, length)
        ref = build_backbone(length, phi, psi)
        pred = build_backbone(length, phi + rng.normal(0, noise, length), psi + rng.normal(0, noise, length))
        seq = "A" * length
        res = tmtools.tm_align(pred[:, 1].copy(), ref[:, 1].copy(), seq, seq, [seq, seq])
        ours = tm_score(pred, ref)
        assert ours == pytest.approx(res.tm_norm_chain2, abs=0.01)
        assert kabsch_rmsd(pred[:, 1], ref[:, 1]) == pytest.approx(res.rmsd, rel=1e-4, abs=1e-4)


def test_bad_shapes_raise():
    bb = helix(10)
    with pytest.raises(ValueError, match="residue-matched"):
        tm_score(bb[:9], bb)
    with pytest.raises(ValueError, match="L×3"):
        kabsch_rmsd(np.zeros((5, 4)), np.zeros((5, 4)))
    bad = bb.copy()
    bad[2, 1, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        tm_score(bad, bb)
