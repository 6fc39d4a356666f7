"""What every structure tokenizer backend shares: the interface, the request type, the error and the input
checks. It is its own module so that backends (``tokenizer.py``'s ``precomputed``, ``gcp_vqvae.py``) import
it and the registry in ``tokenizer.py`` loads backends by name, without the two importing each other.

A backend turns an N/CA/C backbone (L×3×3) plus its sequence into L codes in 0-4095 and, where it can,
codes back into a backbone. Batch methods return, per request, either the codes or a string saying why
that request got none, so that callers can write rejects instead of losing records.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

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
        bad = sorted(set(np.argwhere(~np.isfinite(arr))[:, 0].tolist()))[:10]
        return f"{pid}: non-finite coordinates at residue(s) {bad}"
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


_MODEL_LETTERS = str.maketrans({"U": "X", "O": "X", "B": "X", "Z": "X", "J": "X"})


def model_alphabet(sequence: str) -> str:
    """GCP-VQVAE reads 20 letters + X: U, O, B, Z (and J) become X."""
    return sequence.upper().translate(_MODEL_LETTERS)


class StructureTokenizer(ABC):
    name: str = "abstract"

    @classmethod
    @abstractmethod
    def from_config(cls, **config) -> "StructureTokenizer":
        """The backend built from the keyword configuration the registry passes on."""

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
