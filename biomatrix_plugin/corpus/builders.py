"""The builder table: name used in a dataset card -> pure function ``(record, rng, params) -> instances``.

Every function takes one parsed record, a per-record ``random.Random`` and the card's ``params``, and
returns a list of ``{"text": ...}`` dicts (LLaMA-Factory's pretraining format) or raises
:class:`~.records.RecordRejected` with the reason. Adding a builder for a new raw format = one entry here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from biomatrix_plugin.corpus.complexes import build_protein_complex, build_protein_ligand_complex
from biomatrix_plugin.corpus.interactions import BINDINGDB_COLUMNS, build_binding_affinity, build_protein_pair
from biomatrix_plugin.corpus.molecules import (
    FIELD_ALIASES,
    PROPERTIES,
    build_conformer,
    build_molecule,
    build_molecule_text_pair,
)
from biomatrix_plugin.corpus.proteins import (
    COMMENT_LABELS,
    DEFAULT_ANNOTATION_PROBS,
    build_fasta_sequence,
    build_protein_structure,
    build_uniprot_entry,
)
from biomatrix_plugin.corpus.text import build_interleaved, build_text

BuilderFn = Callable[[Mapping[str, Any], random.Random, Mapping[str, Any]], list[dict]]

# What a card may write under builder.params; registry.validate_card checks every card against it, so a
# misspelt parameter (max_lenght) or sub-key (views: {smile: ...}) is an error instead of doing nothing.
PARAM_KINDS = (
    "probability",    # a number in [0, 1]
    "probabilities",  # {key: probability}
    "columns",        # {key: input column name}
    "path",           # a file or folder, resolved under the data root (see build.PATH_PARAMS)
    "integer", "number", "boolean", "text",
    "field_list",     # a list of names out of ``keys``
    "measures",       # binding_affinity's [{column, name, kind, scale, unit, min}]
    "vocabulary",     # selfies_vocabulary: "open", "default" or a vocabulary directory
)


@dataclass(frozen=True)
class Param:
    kind: str
    keys: tuple[str, ...] | None = None  # the allowed keys of a mapping / items of a list; None = any
    nullable: bool = False  # null is allowed (and means "no limit")


def _params(**params: Param) -> dict[str, Param]:
    return params


_PROPERTY_NAMES = tuple(PROPERTIES)
_MOLECULE_PARAMS = _params(
    views=Param("probabilities", ("smiles", "selfies", "mol3d")),
    fields=Param("probabilities", ("iupac_name", "description", "properties", *_PROPERTY_NAMES)),
    require=Param("field_list", (*FIELD_ALIASES, "mol3d")),
    field_names=Param("columns", (*FIELD_ALIASES, *_PROPERTY_NAMES)),
    selfies_vocabulary=Param("vocabulary", nullable=True),
    shuffle=Param("boolean"),
    min_views=Param("integer"),
)
_LIGAND_VIEWS = ("smiles", "selfies")


@dataclass(frozen=True)
class BuilderSpec:
    function: BuilderFn
    formats: tuple[str, ...]  # input formats it accepts
    category: str  # default Figure-2 category: text, molecule, protein, cross-entity
    summary: str
    params: Mapping[str, Param] = field(default_factory=dict)  # every parameter it reads

    def path_params(self) -> tuple[str, ...]:
        return tuple(k for k, p in self.params.items() if p.kind == "path")


BUILDERS: dict[str, BuilderSpec] = {
    "molecule": BuilderSpec(build_molecule, ("sdf", "csv", "tsv", "smi", "jsonl", "parquet"), "molecule",
                            "PubChem-style molecule: sampled SMILES/SELFIES/3D views, names, description, properties",
                            _MOLECULE_PARAMS),
    "molecule_text": BuilderSpec(build_molecule_text_pair, ("csv", "tsv", "smi", "jsonl", "parquet", "sdf"), "molecule",
                                 "MolTextNet-style molecule–description pair", _MOLECULE_PARAMS),
    "conformer": BuilderSpec(build_conformer, ("sdf", "jsonl", "parquet"), "molecule",
                             "3D conformer set (PCQM4Mv2/PubChemQC SDF) through MolStrucTok", _MOLECULE_PARAMS),
    "fasta_sequence": BuilderSpec(build_fasta_sequence, ("fasta",), "protein", "UniRef-style FASTA: 1D view",
                                  _params(max_length=Param("integer", nullable=True),
                                          name_probability=Param("probability"))),
    "uniprot": BuilderSpec(build_uniprot_entry, ("uniprot_dat",), "protein",
                           "Swiss-Prot/TrEMBL flat file: 1D view + composite annotation instance",
                           _params(annotations=Param("probabilities", tuple(dict.fromkeys(
                                       [*DEFAULT_ANNOTATION_PROBS, *COMMENT_LABELS]))),
                                   emit_sequence_view=Param("boolean"),
                                   sequence_probability=Param("probability"),
                                   structure_probability=Param("probability"),
                                   structure_table=Param("path"),
                                   max_length=Param("integer", nullable=True),
                                   shuffle=Param("boolean"))),
    "protein_structure": BuilderSpec(build_protein_structure, ("csv", "tsv", "jsonl", "parquet"), "protein",
                                     "tokenized PDB/mmCIF/AFDB chain (vq_indices.csv): three-view pattern (protein3d)",
                                     _params(columns=Param("columns", ("pid", "indices", "sequence")),
                                             max_length=Param("integer", nullable=True))),
    "text": BuilderSpec(build_text, ("jsonl", "parquet", "csv", "tsv"), "text", "plain document passthrough",
                        _params(text_field=Param("text"), min_chars=Param("integer"))),
    "interleaved": BuilderSpec(build_interleaved, ("jsonl", "parquet"), "cross-entity",
                               "document + entity annotations: mentions followed by wrapped structures",
                               _params(entity_table=Param("path"),
                                       molecule_views=Param("probabilities", _LIGAND_VIEWS),
                                       selfies_vocabulary=Param("vocabulary", nullable=True),
                                       max_protein_length=Param("integer"),
                                       min_linked=Param("integer"),
                                       text_field=Param("text"))),
    "binding_affinity": BuilderSpec(build_binding_affinity, ("tsv", "csv", "jsonl", "parquet"), "cross-entity",
                                    "molecule–protein pair with Ki/Kd/IC50/EC50 (BindingDB) or card-declared measures (jglaser, STITCH)",
                                    _params(columns=Param("columns", (*BINDINGDB_COLUMNS, "chemical_id", "protein_id")),
                                            views=Param("probabilities", _LIGAND_VIEWS),
                                            selfies_vocabulary=Param("vocabulary", nullable=True),
                                            max_protein_length=Param("integer"),
                                            shuffle=Param("boolean"),
                                            measures=Param("measures"),
                                            statement_label=Param("text"),
                                            chemical_table=Param("path"),
                                            sequence_table=Param("path"),
                                            chemical_id_column=Param("text"),
                                            chemical_smiles_column=Param("text"))),
    "protein_pair": BuilderSpec(build_protein_pair, ("tsv", "csv", "jsonl", "parquet"), "cross-entity",
                                "protein–protein pair with label or affinity",
                                _params(columns=Param("columns", ("sequence_a", "sequence_b", "label", "affinity")),
                                        affinity_name=Param("text"),
                                        affinity_unit=Param("text"),
                                        max_protein_length=Param("integer"),
                                        shuffle=Param("boolean"))),
    "protein_ligand_complex": BuilderSpec(build_protein_ligand_complex, ("types", "csv", "tsv", "jsonl", "parquet"),
                                          "cross-entity",
                                          "receptor PDB + ligand SDF pose (CrossDocked2020): protein 1D/3D, ligand 1D/3D views",
                                          _params(structure_root=Param("path"),
                                                  structure_codes=Param("path"),
                                                  columns=Param("columns", ("receptor", "ligand", "ligand_pose", "label",
                                                                            "affinity", "rmsd")),
                                                  ligand_views=Param("probabilities", _LIGAND_VIEWS),
                                                  selfies_vocabulary=Param("vocabulary", nullable=True),
                                                  structure_probability=Param("probability"),
                                                  max_rmsd=Param("number", nullable=True),
                                                  keep_decoys=Param("boolean"),
                                                  affinity_name=Param("text"),
                                                  affinity_unit=Param("text"),
                                                  receptor_label=Param("text"),
                                                  max_protein_length=Param("integer"),
                                                  shuffle=Param("boolean"))),
    "protein_complex": BuilderSpec(build_protein_complex, ("structure", "csv", "tsv", "jsonl", "parquet"), "cross-entity",
                                   "two-chain PDB/mmCIF (PPIRef): both chains' 1D/3D views + interaction statement",
                                   _params(structure_root=Param("path"),
                                           structure_codes=Param("path"),
                                           columns=Param("columns", ("path",)),
                                           use_first_two=Param("boolean"),
                                           interface_cutoff=Param("number"),
                                           max_protein_length=Param("integer"),
                                           structure_probability=Param("probability"),
                                           shuffle=Param("boolean"))),
}
