"""The protein structure tokenizer registry and the ``precomputed`` backend.

A backend turns an N/CA/C backbone (L×3×3) plus its sequence into L codes in 0-4095 and, where it can,
codes back into a backbone (interface: :mod:`biomatrix_plugin.protein3d.tokenizer_base`). Backends:

- ``precomputed``: looks codes up in ``vq_indices.csv`` files (BioMatrix's published tokens or an earlier
  ``gcp_vqvae`` run); cannot decode.
- ``gcp_vqvae``: runs the user's ``vq_encoder_decoder`` checkout and checkpoint (see
  :mod:`biomatrix_plugin.protein3d.gcp_vqvae`).

The registry maps names to ``"module:Class"`` strings loaded on first use: the backends import the shared
types from ``tokenizer_base`` and nothing here imports a backend module, so there is no import cycle.
"""

from __future__ import annotations

import importlib
import os
from array import array
from typing import Iterable, Sequence

from biomatrix_plugin.errors import ConfigError
from biomatrix_plugin.protein3d.tokenizer_base import (  # noqa: F401  (re-exported: the public names)
    EncodeRequest,
    StructureTokenizer,
    StructureTokenizerError,
    check_backbone,
    check_codes,
    model_alphabet,
)

STRUCTURE_TOKENIZERS = {
    "precomputed": "biomatrix_plugin.protein3d.tokenizer:PrecomputedTokenizer",
    "gcp_vqvae": "biomatrix_plugin.protein3d.gcp_vqvae:GCPVQVAETokenizer",
}


class PrecomputedTokenizer(StructureTokenizer):
    """Codes from ``vq_indices.csv`` files, found by pid (or, without a known pid, by sequence).

    The sequence given to ``encode`` must equal the stored one once U/O/B/Z/J are read as X (GCP-VQVAE's
    input alphabet), so that codes never silently pair with another chain's residues.
    """

    name = "precomputed"

    @classmethod
    def from_config(cls, csv_paths: Iterable[str | os.PathLike] = (), **unknown) -> "PrecomputedTokenizer":
        if unknown:
            raise ConfigError(f"precomputed structure tokenizer: unknown option(s) {', '.join(sorted(unknown))}; "
                              "it takes csv_paths (vq_indices.csv files)")
        return cls(csv_paths)

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


def get_structure_tokenizer(name: str, **config) -> StructureTokenizer:
    """``precomputed`` (``csv_paths=[...]``) or ``gcp_vqvae`` (keys of ``GCPVQVAEConfig``)."""
    target = STRUCTURE_TOKENIZERS.get(name)
    if target is None:
        raise StructureTokenizerError(
            f"unknown structure tokenizer {name!r}; choose {' or '.join(STRUCTURE_TOKENIZERS)}")
    module, _, cls_name = target.partition(":")
    return getattr(importlib.import_module(module), cls_name).from_config(**config)
