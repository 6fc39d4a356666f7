"""Protein 3D: structure parsing and backbone extraction, structure tokenizers (GCP-VQVAE, precomputed
codes), writing backbones back to files, three-view pretraining instances, and TM-score / RMSD.

Names are loaded on first use so that ``biomatrix --help`` (which imports this package's ``cli``) stays
fast; ``from biomatrix_plugin.protein3d import extract_chains`` works as usual.

May import: ``modalities``, ``vocab`` and the base layer (``errors``, ``io``, ``paths``).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "extract_chains": "backbone", "ChainBackbone": "backbone", "ExtractionResult": "backbone",
    "residue_letter": "backbone", "record_id": "backbone",
    "read_first_model": "structure_io", "write_backbone": "structure_io", "StructureFileError": "structure_io",
    "build_backbone": "geometry", "carbonyl_oxygens": "geometry",
    "kabsch_rmsd": "comparison", "tm_score": "comparison", "superimpose": "comparison",
    "StructureTokenizer": "tokenizer", "EncodeRequest": "tokenizer", "get_structure_tokenizer": "tokenizer",
    "PrecomputedTokenizer": "tokenizer", "StructureTokenizerError": "tokenizer",
    "GCPVQVAETokenizer": "gcp_vqvae", "GCPVQVAEConfig": "gcp_vqvae", "GCPVQVAEUnavailable": "gcp_vqvae",
    "read_vq_csv": "vq_csv", "write_vq_csv": "vq_csv", "VQRecord": "vq_csv",
    "three_view_instances": "instances", "composite_instance": "instances", "CompositionConfig": "instances",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
