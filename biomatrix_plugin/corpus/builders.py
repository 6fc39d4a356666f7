"""The builder table: name used in a dataset card -> pure function ``(record, rng, params) -> instances``.

Every function takes one parsed record, a per-record ``random.Random`` and the card's ``params``, and
returns a list of ``{"text": ...}`` dicts (LLaMA-Factory's pretraining format) or raises
:class:`~.records.RecordRejected` with the reason. Adding a builder for a new raw format = one entry here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .complexes import build_protein_complex, build_protein_ligand_complex
from .interactions import build_binding_affinity, build_protein_pair
from .molecules import build_conformer, build_molecule, build_molecule_text_pair
from .proteins import build_fasta_sequence, build_protein_structure, build_uniprot_entry
from .text import build_interleaved, build_text

BuilderFn = Callable[[Mapping[str, Any], random.Random, Mapping[str, Any]], list[dict]]


@dataclass(frozen=True)
class BuilderSpec:
    function: BuilderFn
    formats: tuple[str, ...]  # input formats it accepts
    category: str  # default Figure-2 category: text, molecule, protein, cross-entity
    summary: str


BUILDERS: dict[str, BuilderSpec] = {
    "molecule": BuilderSpec(build_molecule, ("sdf", "csv", "tsv", "smi", "jsonl", "parquet"), "molecule",
                            "PubChem-style molecule: sampled SMILES/SELFIES/3D views, names, description, properties"),
    "molecule_text": BuilderSpec(build_molecule_text_pair, ("csv", "tsv", "smi", "jsonl", "parquet", "sdf"), "molecule",
                                 "MolTextNet-style molecule–description pair"),
    "conformer": BuilderSpec(build_conformer, ("sdf", "jsonl", "parquet"), "molecule",
                             "3D conformer set (PCQM4Mv2/PubChemQC SDF) through MolStrucTok"),
    "fasta_sequence": BuilderSpec(build_fasta_sequence, ("fasta",), "protein", "UniRef-style FASTA: 1D view"),
    "uniprot": BuilderSpec(build_uniprot_entry, ("uniprot_dat",), "protein",
                           "Swiss-Prot/TrEMBL flat file: 1D view + composite annotation instance"),
    "protein_structure": BuilderSpec(build_protein_structure, ("csv", "tsv", "jsonl", "parquet"), "protein",
                                     "tokenized PDB/mmCIF/AFDB chain (vq_indices.csv): three-view pattern (protein3d)"),
    "text": BuilderSpec(build_text, ("jsonl", "parquet", "csv", "tsv"), "text", "plain document passthrough"),
    "interleaved": BuilderSpec(build_interleaved, ("jsonl", "parquet"), "cross-entity",
                               "document + entity annotations: mentions followed by wrapped structures"),
    "binding_affinity": BuilderSpec(build_binding_affinity, ("tsv", "csv", "jsonl", "parquet"), "cross-entity",
                                    "molecule–protein pair with Ki/Kd/IC50/EC50 (BindingDB) or card-declared measures (jglaser, STITCH)"),
    "protein_pair": BuilderSpec(build_protein_pair, ("tsv", "csv", "jsonl", "parquet"), "cross-entity",
                                "protein–protein pair with label or affinity"),
    "protein_ligand_complex": BuilderSpec(build_protein_ligand_complex, ("types", "csv", "tsv", "jsonl", "parquet"),
                                          "cross-entity",
                                          "receptor PDB + ligand SDF pose (CrossDocked2020): protein 1D/3D, ligand 1D/3D views"),
    "protein_complex": BuilderSpec(build_protein_complex, ("structure", "csv", "tsv", "jsonl", "parquet"), "cross-entity",
                                   "two-chain PDB/mmCIF (PPIRef): both chains' 1D/3D views + interaction statement"),
}
