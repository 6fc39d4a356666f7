"""Backbone geometry from internal coordinates: ideal helices and strands for tests and benchmarks, and
the carbonyl oxygen that GCP-VQVAE's input format needs but an N/CA/C backbone does not carry."""

from __future__ import annotations

import numpy as np

# Engh & Huber standard backbone geometry (Å, degrees)
BOND_N_CA = 1.458
BOND_CA_C = 1.525
BOND_C_N = 1.329
BOND_C_O = 1.231
ANGLE_N_CA_C = 111.2
ANGLE_CA_C_N = 116.2
ANGLE_C_N_CA = 121.7
ANGLE_CA_C_O = 120.1

ALPHA_HELIX = (-57.0, -47.0)  # (phi, psi)
BETA_STRAND = (-119.0, 113.0)


def place_atom(a: np.ndarray, b: np.ndarray, c: np.ndarray, bond: float, angle_deg: float,
               torsion_deg: float) -> np.ndarray:
    """Position of D with |CD| = bond, angle BCD and torsion ABCD (natural extension reference frame)."""
    angle, torsion = np.radians(angle_deg), np.radians(torsion_deg)
    bc = c - b
    bc /= np.linalg.norm(bc)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    m = np.cross(n, bc)
    d2 = np.array([-bond * np.cos(angle), bond * np.sin(angle) * np.cos(torsion),
                   bond * np.sin(angle) * np.sin(torsion)])
    return c + d2[0] * bc + d2[1] * m + d2[2] * n


def build_backbone(length: int, phi: float | np.ndarray, psi: float | np.ndarray,
                   omega: float | np.ndarray = 180.0) -> np.ndarray:
    """L×3×3 N/CA/C coordinates for the given torsions (scalars or per-residue arrays, degrees)."""
    if length < 1:
        raise ValueError("length must be at least 1")
    phi, psi, omega = (np.broadcast_to(np.asarray(v, dtype=float), (length,)) for v in (phi, psi, omega))
    out = np.zeros((length, 3, 3))
    n = np.array([0.0, 0.0, 0.0])
    ca = np.array([BOND_N_CA, 0.0, 0.0])
    t = np.radians(180.0 - ANGLE_N_CA_C)
    c = ca + BOND_CA_C * np.array([np.cos(t), np.sin(t), 0.0])
    out[0] = n, ca, c
    for i in range(1, length):
        n = place_atom(out[i - 1, 0], out[i - 1, 1], out[i - 1, 2], BOND_C_N, ANGLE_CA_C_N, psi[i - 1])
        ca = place_atom(out[i - 1, 1], out[i - 1, 2], n, BOND_N_CA, ANGLE_C_N_CA, omega[i - 1])
        c = place_atom(out[i - 1, 2], n, ca, BOND_CA_C, ANGLE_N_CA_C, phi[i])
        out[i] = n, ca, c
    return out


def carbonyl_oxygens(backbone: np.ndarray) -> np.ndarray:
    """L×3 O positions: in the peptide plane, bisecting away from CA(i) and N(i+1); the last residue's O
    is placed trans to its N (psi 180°), which is as good as any guess without the next residue."""
    bb = np.asarray(backbone, dtype=float)
    oxygens = np.empty((len(bb), 3))
    for i in range(len(bb)):
        ca, c = bb[i, 1], bb[i, 2]
        if i + 1 < len(bb) and np.linalg.norm(bb[i + 1, 0] - c) < 2.0:
            u = (c - ca) / np.linalg.norm(c - ca)
            v = (c - bb[i + 1, 0]) / np.linalg.norm(c - bb[i + 1, 0])
            direction = u + v
            oxygens[i] = c + BOND_C_O * direction / np.linalg.norm(direction)
        else:
            oxygens[i] = place_atom(bb[i, 0], ca, c, BOND_C_O, ANGLE_CA_C_O, 0.0)
    return oxygens
