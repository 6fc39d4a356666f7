"""Structure comparison for residue-matched backbones: Kabsch RMSD and TM-score.

Both take L×3 (CA) or L×3×3 (N, CA, C) arrays where row i of one structure corresponds to row i of the
other (the folding evaluation compares a predicted backbone with the reference of the same length).

``tm_score`` follows Zhang & Skolnick (2004) as the TM-score program computes it for a fixed residue
correspondence: d0 = 1.24·(L−15)^(1/3) − 1.8 (0.5 for L ≤ 21), the score maximised over superpositions
seeded from fragments of length L, L/2, L/4, ... (≥ 4) and refined by iteratively re-superimposing on
the residues closer than d0_search = clip(d0, 4.5, 8). All seeds are refined together as one batch of
3×3 SVDs, which keeps it fast in numpy.
"""

from __future__ import annotations

import numpy as np


def _as_points(x: np.ndarray, name: str, ca_only: bool = False) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[1:] == (3, 3):
        arr = arr[:, 1] if ca_only else arr.reshape(-1, 3)
    elif arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{name}: expected an L×3 (CA) or L×3×3 (N, CA, C) array, got shape {arr.shape}")
    if len(arr) == 0:
        raise ValueError(f"{name}: empty")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: non-finite coordinates")
    return arr


def _check_pair(a: np.ndarray, b: np.ndarray, ca_only: bool) -> tuple[np.ndarray, np.ndarray]:
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"structures differ in shape {a_arr.shape} vs {b_arr.shape}; they must be residue-matched")
    return _as_points(a_arr, "first structure", ca_only), _as_points(b_arr, "second structure", ca_only)


def _kabsch_batch(mobile: np.ndarray, target: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotations R (B×3×3) and translations t (B×3) minimising Σ w·|R·m + t − x|² for each weight row.

    mobile, target: N×3; weights: B×N (non-negative, each row with at least three non-zero entries)."""
    w = weights / weights.sum(axis=1, keepdims=True)
    mu_m = w @ mobile  # B×3
    mu_t = w @ target
    # H = Σ w (m − μm)ᵀ (x − μx) = Σ w mᵀx − μmᵀ μx
    h = np.einsum("bn,ni,nj->bij", w, mobile, target) - np.einsum("bi,bj->bij", mu_m, mu_t)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("bij,bjk->bik", u, vt)))
    d[d == 0] = 1.0
    correction = np.ones((len(w), 3))
    correction[:, 2] = d
    rot = np.einsum("bji,bj,bkj->bik", vt, correction, u)  # R = V · diag(1,1,d) · Uᵀ
    trans = mu_t - np.einsum("bij,bj->bi", rot, mu_m)
    return rot, trans


def superimpose(mobile: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R, t) so that ``mobile @ R.T + t`` best fits ``target`` (least squares, proper rotation)."""
    m, t = _check_pair(mobile, target, ca_only=False)
    if len(m) < 3:
        raise ValueError("superposition needs at least 3 points")
    rot, trans = _kabsch_batch(m, t, np.ones((1, len(m))))
    return rot[0], trans[0]


def kabsch_rmsd(a: np.ndarray, b: np.ndarray, ca_only: bool = False) -> float:
    """RMSD after optimal superposition of ``a`` onto ``b`` (all atoms of L×3×3 input unless ca_only)."""
    m, t = _check_pair(a, b, ca_only)
    if len(m) < 3:
        return float(np.sqrt(np.mean(np.sum((m - m.mean(0) - (t - t.mean(0))) ** 2, axis=1))))
    rot, trans = _kabsch_batch(m, t, np.ones((1, len(m))))
    moved = m @ rot[0].T + trans[0]
    return float(np.sqrt(np.mean(np.sum((moved - t) ** 2, axis=1))))


def tm_d0(length: int) -> float:
    if length <= 21:
        return 0.5
    return max(0.5, 1.24 * (length - 15) ** (1.0 / 3.0) - 1.8)


def tm_score(pred: np.ndarray, ref: np.ndarray, *, max_iterations: int = 20, max_seeds: int = 4000) -> float:
    """TM-score of ``pred`` against ``ref`` (normalised by the reference length), on CA atoms.

    pred, ref: residue-matched L×3 CA or L×3×3 backbones. Identical structures score 1.
    """
    p, r = _check_pair(pred, ref, ca_only=True)
    length = len(r)
    d0 = tm_d0(length)
    if length < 3:
        d = np.linalg.norm((p - p.mean(0)) - (r - r.mean(0)), axis=1)
        return float(np.sum(1.0 / (1.0 + (d / d0) ** 2)) / length)
    d0_search = min(max(d0, 4.5), 8.0)

    seeds = []
    fragment = length
    min_fragment = min(length, 4)
    while True:
        step = max(1, (length - fragment) // 200 + 1) if fragment < length else 1
        for start in range(0, length - fragment + 1, step):
            row = np.zeros(length)
            row[start : start + fragment] = 1.0
            seeds.append(row)
        if fragment <= min_fragment:
            break
        fragment = max(fragment // 2, min_fragment)
    weights = np.array(seeds[:max_seeds])

    best = 0.0
    previous = None
    for _ in range(max_iterations):
        rot, trans = _kabsch_batch(p, r, weights)
        moved = np.einsum("bij,nj->bni", rot, p) + trans[:, None, :]
        dist = np.linalg.norm(moved - r[None], axis=2)  # B×L
        scores = np.sum(1.0 / (1.0 + (dist / d0) ** 2), axis=1) / length
        best = max(best, float(scores.max()))
        # Next superposition: residues within d0_search; widen per row until at least three qualify.
        cutoff = np.full((len(dist), 1), d0_search)
        mask = dist < cutoff
        for _widen in range(50):
            short = mask.sum(axis=1) < 3
            if not short.any():
                break
            cutoff[short] += 0.5
            mask[short] = dist[short] < cutoff[short]
        new_weights = mask.astype(float)
        if previous is not None and np.array_equal(new_weights, previous):
            break
        previous = new_weights
        # Drop duplicate selections: they would refine identically.
        weights = np.unique(new_weights, axis=0)
    return min(best, 1.0)
