"""The protein structure tokenizer interface and its registry.

A backend turns an N/CA/C backbone (L×3×3) plus its sequence into L codes in 0-4095 and, where it can,
codes back into a backbone. Backends:

- ``precomputed``: looks codes up in ``vq_indices.csv`` files (BioMatrix's published tokens or an earlier
  ``gcp_vqvae`` run); cannot decode.
- ``gcp_vqvae``: runs the user's ``vq_encoder_decoder`` checkout and checkpoint (see
  :mod:`biomatrix_plugin.protein3d.gcp_vqvae`).

Batch methods return, per request, either the codes or a string saying why that request got none, so
that callers can write rejects instead of losing records.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from array import array
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from biomatrix_plugin.errors import BioMatrixError
from biomatrix_plugin.vocab.tokens import N_PROTEIN_STRUCTURE_CODES


class StructureTokenizerError(BioMatrixError, RuntimeError):
    """A structure tokenizer cannot do what was asked; the message says why."""


@dataclass
class EncodeRequest:
    pid: str
    backbone: np.ndarray  # L×3×3, atoms N, CA, C
    sequence: str


def check_backbone(backbone: np.ndarray, sequence: str, pid: str = "backbone") -> str | None:
    """None when usable, else the reason."""
    arr = np.asarray(backbone)
    if arr.ndim != 3 or arr.shape[1:] != (3, 3):
        return f"{pid}: backbone must be L×3×3 (N, CA, C), got shape {arr.shape}"
    if arr.shape[0] == 0:
        return f"{pid}: empty backbone"
    if not np.isfinite(arr).all():
        return f"{pid}: non-finite coordinates at residue(s) {sorted(set(np.argwhere(~np.isfinite(arr))[:, 0].tolist()))[:10]}"
    if len(sequence) != arr.shape[0]:
        return f"{pid}: {arr.shape[0]} residues in the backbone but {len(sequence)} letters in the sequence"
    return None


def check_codes(codes: Sequence[int], pid: str = "codes") -> str | None:
    if len(codes) == 0:
        return f"{pid}: no codes"
    for i, c in enumerate(codes):
        if not 0 <= int(c) < N_PROTEIN_STRUCTURE_CODES:
            return f"{pid}: code {int(c)} at position {i} outside 0-{N_PROTEIN_STRUCTURE_CODES - 1}"
    return None


class StructureTokenizer(ABC):
    name: str = "abstract"

    @abstractmethod
    def encode_batch(self, requests: Sequence[EncodeRequest]) -> list[list[int] | str]:
        """Codes per request, or the reason that request got none."""

    def decode_batch(self, codes: Sequence[Sequence[int]]) -> list[np.ndarray]:
        raise StructureTokenizerError(f"the {self.name!r} structure tokenizer cannot decode codes into backbones")

    def encode(self, backbone: np.ndarray, sequence: str, pid: str = "query") -> list[int]:
        result = self.encode_batch([EncodeRequest(pid, np.asarray(backbone, dtype=float), sequence)])[0]
        if isinstance(result, str):
            raise StructureTokenizerError(result)
        return result

    def decode(self, codes: Sequence[int]) -> np.ndarray:
        return self.decode_batch([list(codes)])[0]


class PrecomputedTokenizer(StructureTokenizer):
    """Codes from ``vq_indices.csv`` files, found by pid (or, without a known pid, by sequence).

    The sequence given to ``encode`` must equal the stored one once U/O/B/Z/J are read as X (GCP-VQVAE's
    input alphabet), so that codes never silently pair with another chain's residues.
    """

    name = "precomputed"

    def __init__(self, csv_paths: Iterable[str | os.PathLike] = ()):
        from biomatrix_plugin.protein3d.vq_csv import read_vq_csv

        # codes as uint16 arrays (2 bytes per residue instead of ~36 for a list of ints): at PPIRef/AFDB
        # scale the table is held by every build worker
        self.by_pid: dict[str, tuple[array, str]] = {}
        self.by_sequence: dict[str, list[str]] = {}
        self.rejected: list[dict] = []
        for path in csv_paths:
            records, rejected = read_vq_csv(path)
            self.rejected.extend(rejected)
            for record in records:
                if record.pid in self.by_pid:
                    self.rejected.append({"source": str(path), "pid": record.pid,
                                          "reason": "pid already read from an earlier file"})
                    continue
                self.by_pid[record.pid] = (array("H", record.codes), record.sequence)
                self.by_sequence.setdefault(model_alphabet(record.sequence), []).append(record.pid)

    def encode_batch(self, requests: Sequence[EncodeRequest]) -> list[list[int] | str]:
        out: list[list[int] | str] = []
        for req in requests:
            reason = check_backbone(req.backbone, req.sequence, req.pid)
            if reason:
                out.append(reason)
                continue
            key = model_alphabet(req.sequence)
            pid = req.pid
            if pid not in self.by_pid:
                matches = self.by_sequence.get(key, [])
                if len(matches) != 1:
                    out.append(f"{req.pid}: no precomputed codes for this pid"
                               + (f" and {len(matches)} rows share its sequence" if matches else " or sequence"))
                    continue
                pid = matches[0]
            codes, stored = self.by_pid[pid]
            if model_alphabet(stored) != key:
                out.append(f"{req.pid}: precomputed sequence differs from the extracted one "
                           f"({len(stored)} vs {len(req.sequence)} residues); the codes would misalign")
                continue
            out.append(list(codes))
        return out


_MODEL_LETTERS = str.maketrans({"U": "X", "O": "X", "B": "X", "Z": "X", "J": "X"})


def model_alphabet(sequence: str) -> str:
    """GCP-VQVAE reads 20 letters + X: U, O, B, Z (and J) become X."""
    return sequence.upper().translate(_MODEL_LETTERS)


def get_structure_tokenizer(name: str, **config) -> StructureTokenizer:
    """``precomputed`` (``csv_paths=[...]``) or ``gcp_vqvae`` (keys of :class:`GCPVQVAEConfig`)."""
    if name == "precomputed":
        return PrecomputedTokenizer(config.get("csv_paths", ()))
    if name == "gcp_vqvae":
        from biomatrix_plugin.protein3d.gcp_vqvae import GCPVQVAEConfig, GCPVQVAETokenizer

        return GCPVQVAETokenizer(GCPVQVAEConfig.from_mapping(config))
    raise StructureTokenizerError(f"unknown structure tokenizer {name!r}; choose precomputed or gcp_vqvae")
