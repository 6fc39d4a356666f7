"""Molecule 3D tokens (MolStrucTok): a native, checkpoint-compatible encoder/decoder and trainer.

Public API (names are stable; see docs/mol3d.md)::

    from biomatrix_plugin.mol3d import encode_mols, encode_mol, decode, decode_many, mol_to_wrapped_3d
    res = encode_mol(mol)            # EncodedMol(struct_sfi="[H 3][C 0]...", codes=[3, 0, ...], smiles=...)
    mol3d = decode(res.struct_sfi)   # RDKit Mol with a 3D conformer and stereo from 3D (mmff=True to refine)

Owns: the MolStrucTok model, encode/decode, batch runs (``batch``), training, the checkpoint lookup and
download (``checkpoint``) and ``biomatrix mol3d``. Joint-token validation lives one stage down, in
``modalities.mol3d_tokens``, so that wrap/unwrap share it.

May import: ``vocab``, ``modalities`` and the base layer (``errors``, ``io``, ``paths``, ``cli_types``).

Attributes load lazily so that importing the package does not import torch or RDKit.
"""

from __future__ import annotations

_EXPORTS = {
    "MolStrucTok": "tokenizer", "EncodedMol": "tokenizer", "encode_mols": "tokenizer",
    "encode_mol": "tokenizer", "decode": "tokenizer", "decode_many": "tokenizer",
    "mol_to_wrapped_3d": "tokenizer", "embed_3d": "tokenizer", "get_tokenizer": "tokenizer",
    "default_checkpoint": "tokenizer", "count_joint_tokens": "joint_tokens",
    "parse_struct_sfi": "joint_tokens", "Mol3DError": "errors", "load_vqvae": "model",
    "encode_sdf": "batch", "decode_jsonl": "batch", "train_from_mols": "train", "TrainConfig": "train",
    "require_checkpoint": "checkpoint", "fetch_checkpoint": "checkpoint", "CheckpointError": "errors",
    "EncodeOptions": "batch", "DecodeOptions": "batch", "RunOptions": "batch",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
