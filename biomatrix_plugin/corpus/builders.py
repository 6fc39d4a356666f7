"""The builder table: name used in a dataset card -> pure function ``(record, rng, params) -> instances``.

Every function takes one parsed record, a per-record ``random.Random`` and the card's ``params``, and
returns a list of ``{"text": ...}`` dicts (LLaMA-Factory's pretraining format) or raises
:class:`~.records.RecordRejected` with the reason. Adding a builder for a new raw format = one entry here.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from biomatrix_plugin.corpus.complexes import build_protein_complex, build_protein_ligand_complex
from biomatrix_plugin.corpus.interactions import (
    BINDINGDB_COLUMNS,
    MEASURE_KINDS,
    build_binding_affinity,
    build_protein_pair,
)
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
from biomatrix_plugin.schema import (
    Bool,
    Enum,
    Float,
    Int,
    Kind,
    ListOf,
    MapOf,
    Path,
    Probability,
    Rule,
    Spec,
    Str,
    StrList,
)

BuilderFn = Callable[[Mapping[str, Any], random.Random, Mapping[str, Any]], list[dict]]

# What a card may write under builder.params, as biomatrix_plugin.schema kinds; registry.validate_card
# checks every card against it, so a misspelt parameter (max_lenght) or sub-key (views: {smile: ...}) is
# an error instead of doing nothing. Kind Path marks the params build.py resolves under the data root.


def _probabilities(keys: tuple[str, ...]) -> MapOf:
    return MapOf(Probability(), keys=keys)


def _columns(keys: tuple[str, ...]) -> MapOf:
    return MapOf(Str(nonempty=True), keys=keys)


def _vocabulary_setting(value: str) -> str | None:
    # a bare word other than open/default is a typo ("defualt"), not a folder next to the cwd
    if value in ("open", "default") or any(c in value for c in ("/", os.sep, "$", "~")):
        return None
    return (f"{value!r} must be 'open', 'default' or the path of a vocabulary directory "
            "(containing '/', e.g. ./my_vocab)")


_COUNT = Int(min=0)
_LIMIT = Int(min=0, nullable=True)  # null: no limit
_VOCABULARY = Rule(base=Str(nullable=True), test=_vocabulary_setting)
# size limits checked before RDKit sees a SMILES (null: serialization's defaults / environment)
_SMILES_LIMITS = {"max_smiles_chars": Int(min=1, nullable=True), "max_smiles_atoms": Int(min=1, nullable=True)}
_MEASURE = Spec({"column": Str(nonempty=True), "name": Str(), "kind": Enum(MEASURE_KINDS), "scale": Float(),
                 "unit": Str(), "min": Float()}, required=("column",))

_PROPERTY_NAMES = tuple(PROPERTIES)
_MOLECULE_PARAMS: dict[str, Kind] = {
    "views": _probabilities(("smiles", "selfies", "mol3d")),
    "fields": _probabilities(("iupac_name", "description", "properties", *_PROPERTY_NAMES)),
    "require": StrList(items=(*FIELD_ALIASES, "mol3d")),
    "field_names": _columns((*FIELD_ALIASES, *_PROPERTY_NAMES)),
    "selfies_vocabulary": _VOCABULARY,
    "shuffle": Bool(),
    "min_views": _COUNT,
    **_SMILES_LIMITS,
}
_LIGAND_VIEWS = ("smiles", "selfies")


@dataclass(frozen=True)
class BuilderSpec:
    function: BuilderFn
    formats: tuple[str, ...]  # input formats it accepts
    category: str  # default Figure-2 category: text, molecule, protein, cross-entity
    summary: str
    params: Mapping[str, Kind] = field(default_factory=dict)  # every parameter it reads

    def path_params(self) -> tuple[str, ...]:
        return tuple(k for k, p in self.params.items() if isinstance(p, Path))

    def params_spec(self, name: str) -> Spec:
        """The schema of ``builder.params`` for this builder (named ``name`` in messages)."""
        return Spec(self.params, what=f"parameter of builder {name!r}")


_BINDING_COLUMNS = (*BINDINGDB_COLUMNS, "chemical_id", "protein_id")
_COMPLEX_COLUMNS = ("receptor", "ligand", "ligand_pose", "label", "affinity", "rmsd")

BUILDERS: dict[str, BuilderSpec] = {
    "molecule": BuilderSpec(
        build_molecule, ("sdf", "csv", "tsv", "smi", "jsonl", "parquet"), "molecule",
        "PubChem-style molecule: sampled SMILES/SELFIES/3D views, names, description, properties",
        _MOLECULE_PARAMS),
    "molecule_text": BuilderSpec(
        build_molecule_text_pair, ("csv", "tsv", "smi", "jsonl", "parquet", "sdf"), "molecule",
        "MolTextNet-style molecule–description pair", _MOLECULE_PARAMS),
    "conformer": BuilderSpec(
        build_conformer, ("sdf", "jsonl", "parquet"), "molecule",
        "3D conformer set (PCQM4Mv2/PubChemQC SDF) through MolStrucTok", _MOLECULE_PARAMS),
    "fasta_sequence": BuilderSpec(
        build_fasta_sequence, ("fasta",), "protein", "UniRef-style FASTA: 1D view",
        {"max_length": _LIMIT, "name_probability": Probability()}),
    "uniprot": BuilderSpec(
        build_uniprot_entry, ("uniprot_dat",), "protein",
        "Swiss-Prot/TrEMBL flat file: 1D view + composite annotation instance",
        {"annotations": _probabilities(tuple(dict.fromkeys([*DEFAULT_ANNOTATION_PROBS, *COMMENT_LABELS]))),
         "emit_sequence_view": Bool(), "sequence_probability": Probability(),
         "structure_probability": Probability(), "structure_table": Path(), "max_length": _LIMIT,
         "shuffle": Bool()}),
    "protein_structure": BuilderSpec(
        build_protein_structure, ("csv", "tsv", "jsonl", "parquet"), "protein",
        "tokenized PDB/mmCIF/AFDB chain (vq_indices.csv): three-view pattern (protein3d)",
        {"columns": _columns(("pid", "indices", "sequence")), "max_length": _LIMIT}),
    "text": BuilderSpec(
        build_text, ("jsonl", "parquet", "csv", "tsv"), "text", "plain document passthrough",
        {"text_field": Str(), "min_chars": _COUNT}),
    "interleaved": BuilderSpec(
        build_interleaved, ("jsonl", "parquet"), "cross-entity",
        "document + entity annotations: mentions followed by wrapped structures",
        {"entity_table": Path(), "molecule_views": _probabilities(_LIGAND_VIEWS), "selfies_vocabulary": _VOCABULARY,
         "max_protein_length": _COUNT, "min_linked": _COUNT, "text_field": Str(), **_SMILES_LIMITS}),
    "binding_affinity": BuilderSpec(
        build_binding_affinity, ("tsv", "csv", "jsonl", "parquet"), "cross-entity",
        "molecule–protein pair with Ki/Kd/IC50/EC50 (BindingDB) or card-declared measures (jglaser, STITCH)",
        {"columns": _columns(_BINDING_COLUMNS), "views": _probabilities(_LIGAND_VIEWS),
         "selfies_vocabulary": _VOCABULARY, "max_protein_length": _COUNT, "shuffle": Bool(),
         "measures": ListOf(_MEASURE, nonempty=True), "statement_label": Str(), "chemical_table": Path(),
         "sequence_table": Path(), "chemical_id_column": Str(), "chemical_smiles_column": Str(),
         **_SMILES_LIMITS}),
    "protein_pair": BuilderSpec(
        build_protein_pair, ("tsv", "csv", "jsonl", "parquet"), "cross-entity",
        "protein–protein pair with label or affinity",
        {"columns": _columns(("sequence_a", "sequence_b", "label", "affinity")), "affinity_name": Str(),
         "affinity_unit": Str(), "max_protein_length": _COUNT, "shuffle": Bool()}),
    "protein_ligand_complex": BuilderSpec(
        build_protein_ligand_complex, ("types", "csv", "tsv", "jsonl", "parquet"), "cross-entity",
        "receptor PDB + ligand SDF pose (CrossDocked2020): protein 1D/3D, ligand 1D/3D views",
        {"structure_root": Path(), "structure_codes": Path(), "columns": _columns(_COMPLEX_COLUMNS),
         "ligand_views": _probabilities(_LIGAND_VIEWS), "selfies_vocabulary": _VOCABULARY,
         "structure_probability": Probability(), "max_rmsd": Float(nullable=True), "keep_decoys": Bool(),
         "affinity_name": Str(), "affinity_unit": Str(), "receptor_label": Str(), "max_protein_length": _COUNT,
         "shuffle": Bool(), **_SMILES_LIMITS}),
    "protein_complex": BuilderSpec(
        build_protein_complex, ("structure", "csv", "tsv", "jsonl", "parquet"), "cross-entity",
        "two-chain PDB/mmCIF (PPIRef): both chains' 1D/3D views + interaction statement",
        {"structure_root": Path(), "structure_codes": Path(), "columns": _columns(("path",)),
         "use_first_two": Bool(), "interface_cutoff": Float(), "max_protein_length": _COUNT,
         "structure_probability": Probability(), "shuffle": Bool()}),
}


def resolve_builder(name: str) -> BuilderSpec:
    """The builder a card names: a key of :data:`BUILDERS`, or ``module:attribute`` naming a BuilderSpec in
    another module of this package. The second form is how a later stage (the task suite's row builder lives
    in ``tasks/``, which corpus may not import) runs on this engine: every process, a spawned pool worker or a
    Ray worker, finds it by importing the module, with nothing to register first."""
    if ":" not in name:
        return BUILDERS[name]
    module, _, attribute = name.partition(":")
    if not module.startswith("biomatrix_plugin."):  # a card must not make the engine import arbitrary code
        raise ValueError(f"builder {name!r}: a module:attribute builder must be a biomatrix_plugin module")
    import importlib

    spec = getattr(importlib.import_module(module), attribute, None)
    if not isinstance(spec, BuilderSpec):
        raise ValueError(f"builder {name!r}: {module}.{attribute} is not a BuilderSpec")
    return spec
