"""Generation descriptors (d, theta, |phi|, sign phi) and the inverse spherical-frame reconstruction.

Atom i >= 3 is placed relative to its *focus* f (the highest-numbered earlier atom bonded to it) and two
reference atoms c1, c2 taken from the focus's own references, so every frame is built from atoms placed
before i. Atoms 0-2 are special: atom 0 sits at the origin, atom 1 on the x axis at distance d(0,1),
atom 2 in the xy plane given d(0,2) and the angle at atom 0. Everything here works on many molecules at
once: arrays are concatenated over molecules, indices are global.
"""

from __future__ import annotations

import numpy as np
import torch

from biomatrix_plugin.mol3d.errors import Mol3DError

# Fixed values the released model was trained with for the frame-less slots (theta of atoms 0-2,
# phi of atoms 0-1, d of atom 0).
ATOM0_LENGTH = 1.2608129506349746
SLOT_THETA = 1.593612854073428
SLOT_PHI = 2.1366727766526967


def reference_atoms(adjacency: np.ndarray, record: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local (focus, c1, c2) for each atom of one molecule, atoms already in token order.

    c1 of atom i is the focus of its focus; c2 is the focus's c1, except that the focus 1 uses (0, 2).
    Raises when an atom >= 3 has no earlier bonded atom or its focus is atom 0 (no frame exists)."""
    focus = focus_from_adjacency(adjacency, record)
    check_focus(focus, record)
    c1, c2 = batch_frames(focus, np.arange(len(focus)), np.zeros(len(focus), dtype=np.int64))
    return focus, c1, c2


def focus_from_adjacency(adjacency: np.ndarray, record: str = "") -> np.ndarray:
    """Each atom's focus: 0 for atom 1, 1 for atom 2, for atom i >= 3 the highest-numbered earlier atom
    bonded to it; -1 for atom 0."""
    n = adjacency.shape[0]
    focus = np.full(n, -1, dtype=np.int64)
    if n > 1:
        focus[1] = 0
    if n > 2:
        focus[2] = 1
    if n > 3:
        cols = np.arange(n)
        earlier = (adjacency[3:] != 0) & (cols[None, :] < np.arange(3, n)[:, None])
        has = earlier.any(1)
        if not has.all():
            i = int(np.argmin(has)) + 3
            raise Mol3DError(f"{record}atom {i} (token order) has no bonded atom before it; "
                             "the molecule is not one connected fragment")
        focus[3:] = n - 1 - np.argmax(earlier[:, ::-1], axis=1)
    return focus


def check_focus(focus, record: str = "") -> None:
    """Raise unless every atom i >= 3 is placed from an atom other than 0 (``focus`` a sequence)."""
    bad = np.nonzero(np.asarray(focus[3:]) == 0)[0]
    if bad.size:
        raise Mol3DError(f"{record}atom {int(bad[0]) + 3} (token order) is placed from atom 0, "
                         "which has no reference frame in MolStrucTok's descriptor rules")


def batch_frames(focus: np.ndarray, local: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(c1, c2) for concatenated molecules: ``focus`` global indices (any value for local atom 0),
    ``local`` each atom's index in its molecule, ``offset`` its molecule's first global index. Entries
    the descriptors do not use (c1 of atoms 0-1, c2 of atoms 0-2) are -1."""
    safe = np.where(local > 0, focus, 0)
    c1 = np.where(local >= 2, safe[safe], -1)
    c2 = np.where(safe - offset == 1, offset + 2, c1[safe])
    c2[local < 3] = -1
    return c1, c2


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def generation_descriptors(pos: np.ndarray, local_idx: np.ndarray, focus: np.ndarray,
                           c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """(atoms, 4) float64 descriptors for concatenated molecules.

    ``pos``: (atoms, 3); ``local_idx``: atom index within its molecule; ``focus/c1/c2``: global indices
    (any value where unused)."""
    n = len(pos)
    out = np.empty((n, 4), dtype=np.float64)
    out[:, 1] = SLOT_THETA
    out[:, 2] = SLOT_PHI
    out[:, 3] = 0.0
    out[local_idx == 0, 0] = ATOM0_LENGTH

    one = np.nonzero(local_idx == 1)[0]
    out[one, 0] = np.linalg.norm(pos[one - 1] - pos[one], axis=1)

    two = np.nonzero(local_idx == 2)[0]
    if two.size:
        p0, p1, p2 = pos[two - 2], pos[two - 1], pos[two]
        d01 = np.sqrt(_dot(p0 - p1, p0 - p1))
        d02 = np.sqrt(_dot(p0 - p2, p0 - p2))
        d12 = np.sqrt(_dot(p1 - p2, p1 - p2))
        x = (d01 ** 2 + d02 ** 2 - d12 ** 2) / (2 * d01)
        y = np.sqrt(np.maximum(d02 ** 2 - x ** 2, 0.0))
        out[two, 0] = d02
        out[two, 2] = np.arctan2(y, x)

    rest = np.nonzero(local_idx >= 3)[0]
    if rest.size:
        a = pos[focus[rest]]
        bp = pos[c1[rest]] - a
        cp = pos[c2[rest]] - a
        dp = pos[rest] - a
        with np.errstate(invalid="ignore", divide="ignore"):
            u = bp / np.sqrt(_dot(bp, bp))[:, None]
            v = cp - _dot(cp, u)[:, None] * u
            v = v / np.sqrt(_dot(v, v))[:, None]
            w = np.cross(u, v)
            x, y, z = _dot(u, dp), _dot(v, dp), _dot(w, dp)
            r = np.sqrt(x ** 2 + y ** 2 + z ** 2)
            theta = np.arccos(z / r)
        phi = np.arctan2(y, x)
        out[rest, 0] = r
        out[rest, 1] = theta
        out[rest, 2] = np.abs(phi)
        out[rest, 3] = np.sign(phi)
    return out


def normalize(desc: np.ndarray) -> torch.Tensor:
    """Model input: float32, log(d + 1), angles / pi (float32 arithmetic, as the released model saw)."""
    t = torch.from_numpy(desc).float()
    t[:, :1] = torch.log(t[:, :1] + 1.0)
    t[:, 1:3] = t[:, 1:3] / torch.pi
    return t


def denormalize(mu: torch.Tensor, sign_logits: torch.Tensor) -> np.ndarray:
    """Decoder outputs -> (atoms, 4) float32 array (d, theta, |phi|, sign)."""
    g = mu.clone()
    g[:, :1] = torch.exp(g[:, :1]) - 1.0
    g[:, 1:3] *= torch.pi
    sign = (torch.argmax(sign_logits, dim=-1) - 1).float()
    return torch.cat([g, sign.unsqueeze(-1)], dim=-1).numpy()


def reconstruct(feats: np.ndarray, starts: np.ndarray, sizes: np.ndarray, focus: np.ndarray,
                c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Coordinates for concatenated molecules from (d, theta, |phi|, sign) rows.

    Atoms are placed one slot at a time across all molecules at once (slot k of every molecule that
    has k+1 atoms), since atom k depends only on earlier atoms of its own molecule."""
    feats = feats.astype(np.float64)
    n = len(feats)
    pos = np.zeros((n, 3), dtype=np.float64)
    r, theta, phi, sign = feats[:, 0], feats[:, 1], feats[:, 2], feats[:, 3]
    has1 = starts[sizes > 1] + 1
    pos[has1, 0] = r[has1]
    has2 = starts[sizes > 2] + 2
    pos[has2, 0] = np.cos(phi[has2]) * r[has2]
    pos[has2, 1] = np.sin(phi[has2]) * r[has2]
    max_n = int(sizes.max()) if len(sizes) else 0
    for k in range(3, max_n):
        idx = starts[sizes > k] + k
        a = pos[focus[idx]]
        bp = pos[c1[idx]] - a
        cp = pos[c2[idx]] - a
        u = bp / np.sqrt(_dot(bp, bp))[:, None]
        v = cp - _dot(cp, u)[:, None] * u
        v = v / np.sqrt(_dot(v, v))[:, None]
        w = np.cross(u, v)
        rr, th, ph = r[idx], theta[idx], phi[idx] * sign[idx]
        lx = rr * np.sin(th) * np.cos(ph)
        ly = rr * np.sin(th) * np.sin(ph)
        lz = rr * np.cos(th)
        pos[idx] = a + u * lx[:, None] + v * ly[:, None] + w * lz[:, None]
    return pos
