"""The ``protein3d`` readout: a generation's GCP-VQVAE structure codes -> a CA trace the structure metrics score.

``read_protein3d(text, spec)`` takes the first ``<|prot_3d_start|><S n>...<|prot_3d_end|>`` segment (and the
first ``<|prot_aa_start|>`` segment, when the answer also writes the sequence: co-generation) and returns
``ReadOut(value)`` with ``value = {"codes": [...], "sequence": str | None, "ca": [[x, y, z], ...]}``. The
metrics of :mod:`biomatrix_plugin.eval.proteins` (``tm_score``, ``rmsd``) read a mapping's ``"ca"``.

Codes become coordinates through a **structure decoder**: any object with the protein3d tokenizer interface
``decode_batch(codes: list[list[int]]) -> list[np.ndarray]`` returning one L x 3 x 3 (N, CA, C) backbone per
code list (:class:`biomatrix_plugin.protein3d.tokenizer_base.StructureTokenizer`; the ``gcp_vqvae`` backend
decodes with the user's GCP-VQVAE checkout and checkpoint). It is found, in order:

1. injected with :func:`set_structure_decoder` (tests, a notebook, a GPU job holding the model);
2. ``$BIOMATRIX_GCP_VQVAE_CONFIG``: the YAML of :class:`~biomatrix_plugin.protein3d.gcp_vqvae.GCPVQVAEConfig`
   (checkout, model directory, device); the backend is built once per process.

Without one, the codes are still read (value without ``"ca"``) and the reason is returned with them, so
``eval run`` counts every item under that reason and ``tm_score`` / ``rmsd`` report ``not_computed`` ("no
usable predicted structure") instead of a number. A configured decoder that fails to load is an error (a
broken setup is not per-item noise); a code list it cannot decode is that item's reason.
"""

from __future__ import annotations

import os
from typing import Any, Protocol, Sequence

import numpy as np

from biomatrix_plugin.errors import BioMatrixError, ConfigError
from biomatrix_plugin.eval.readout import ReadOut, ReadoutSpec

CONFIG_ENV = "BIOMATRIX_GCP_VQVAE_CONFIG"
NO_DECODER = ("no protein3d structure decoder: inject one with biomatrix_plugin.eval.readout_protein3d."
              f"set_structure_decoder() or point ${CONFIG_ENV} at a GCP-VQVAE configuration (docs/protein3d.md); "
              "codes read, CA trace not computed")
CA_DECIMALS = 3


class StructureDecoder(Protocol):
    """Codes -> backbones (L x 3 x 3, atoms N, CA, C), one per code list, as protein3d's tokenizers decode."""

    def decode_batch(self, codes: Sequence[Sequence[int]]) -> list[np.ndarray]: ...


class StructureDecoderError(ConfigError):
    """The configured structure decoder cannot be built (bad configuration, missing checkout or weights)."""


_STATE: dict[str, Any] = {"decoder": None, "from_env": None, "cache": {}}


def set_structure_decoder(decoder: StructureDecoder | None) -> None:
    """Use ``decoder`` for every later read-out (None: back to ``$BIOMATRIX_GCP_VQVAE_CONFIG`` or none)."""
    _STATE["decoder"] = decoder
    _STATE["cache"] = {}


def structure_decoder() -> StructureDecoder | None:
    """The injected decoder, else the one ``$BIOMATRIX_GCP_VQVAE_CONFIG`` configures, else None."""
    if _STATE["decoder"] is not None:
        return _STATE["decoder"]
    path = os.environ.get(CONFIG_ENV)
    if not path:
        return None
    if _STATE["from_env"] is None or _STATE["from_env"][0] != path:
        from biomatrix_plugin.protein3d.gcp_vqvae import GCPVQVAEConfig, GCPVQVAETokenizer

        try:
            decoder = GCPVQVAETokenizer(GCPVQVAEConfig.from_yaml(path))
            decoder.check()
        except (BioMatrixError, OSError) as exc:  # one clear error for the run, naming the variable and file
            raise StructureDecoderError(f"${CONFIG_ENV}={path}: cannot build the GCP-VQVAE decoder: {exc}") from exc
        _STATE["from_env"] = (path, decoder)
    return _STATE["from_env"][1]


def decode_ca(codes: Sequence[int], decoder: StructureDecoder) -> list[list[float]]:
    """CA coordinates of one code list (cached per process: sampled structures repeat)."""
    key = tuple(int(c) for c in codes)
    cache = _STATE["cache"]
    if key not in cache:
        backbones = decoder.decode_batch([list(key)])
        if len(backbones) != 1:
            raise ValueError(f"the decoder returned {len(backbones)} backbones for one code list")
        arr = np.asarray(backbones[0], dtype=np.float64)
        if arr.ndim != 3 or arr.shape[1:] != (3, 3) or len(arr) != len(key):
            raise ValueError(f"the decoder returned a backbone of shape {arr.shape} for {len(key)} codes "
                             f"(expected ({len(key)}, 3, 3): N, CA, C per residue)")
        cache[key] = np.round(arr[:, 1, :], CA_DECIMALS).tolist()
    return cache[key]


def read_protein3d(text: str, spec: ReadoutSpec) -> ReadOut:
    """The first structure segment of ``text`` as codes (+ sequence) and, with a decoder, its CA trace."""
    from biomatrix_plugin.modalities.serialization import unwrap

    if not isinstance(text, str) or not text.strip():
        return ReadOut("", "empty")
    found = unwrap(text, check_vocabulary=False)
    structure = next((s for s in found.segments if s.modality == "prot3d"), None)
    if structure is None:
        return ReadOut("", "no protein 3D segment")
    if not structure.ok:
        return ReadOut("", f"malformed protein 3D segment ({structure.error})")
    protein = next((s for s in found.segments if s.modality == "protein" and s.ok), None)
    codes = list(structure.value)
    value: dict[str, Any] = {"codes": codes, "sequence": str(protein.value) if protein is not None else None}
    decoder = structure_decoder()
    if decoder is None:
        return ReadOut(value, NO_DECODER)
    try:
        value["ca"] = decode_ca(codes, decoder)
    except (BioMatrixError, RuntimeError, ValueError) as exc:  # the decoder's reason for this code list
        return ReadOut(value, f"structure decoder failed: {' '.join(str(exc).split())[:200]}")
    return ReadOut(value)
