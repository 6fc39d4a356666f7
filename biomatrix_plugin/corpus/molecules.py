"""Molecule-centric builders (report §3.1.2): PubChem-style records, MolTextNet-style molecule–description
pairs and 3D conformer sets, all under stochastic composition.

Input fields are looked up under several names so the same builder reads PubChem SDF tags
(``PUBCHEM_IUPAC_NAME``), PubChem PUG-REST CSV columns (``IUPACName``) and plain lower-case JSON keys;
``params["fields"]`` overrides the lookup for other sources.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from biomatrix_plugin.corpus.compose import Component, compose, format_fixed, format_sig, include, sample_views
from biomatrix_plugin.corpus.records import RecordRejected, free_text
from biomatrix_plugin.io import quiet_rdkit

# canonical field -> names it may appear under (first non-empty wins)
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("PUBCHEM_COMPOUND_CID", "CID", "cid", "chembl_id", "zinc_id", "id"),
    "smiles": (
        "smiles", "SMILES", "PUBCHEM_SMILES", "PUBCHEM_OPENEYE_CAN_SMILES", "PUBCHEM_OPENEYE_ISO_SMILES",
        "CanonicalSMILES", "IsomericSMILES", "ConnectivitySMILES", "canonical_smiles",
    ),
    "iupac_name": ("PUBCHEM_IUPAC_NAME", "IUPACName", "iupac_name", "iupac"),
    "description": ("description", "Description", "text", "caption"),
}


@dataclass(frozen=True)
class PropertySpec:
    label: str
    aliases: tuple[str, ...]
    kind: str  # "float", "int" or "text"
    decimals: int | None = None  # fixed decimals for floats; None = 3 significant digits
    unit: str = ""


PROPERTIES: dict[str, PropertySpec] = {
    "molecular_formula": PropertySpec(
        "Molecular formula", ("PUBCHEM_MOLECULAR_FORMULA", "MolecularFormula", "molecular_formula"), "text"),
    "molecular_weight": PropertySpec(
        "Molecular weight", ("PUBCHEM_MOLECULAR_WEIGHT", "MolecularWeight", "molecular_weight", "MW", "mwt"),
        "float", 2, "g/mol"),
    "exact_mass": PropertySpec("Exact mass", ("PUBCHEM_EXACT_MASS", "ExactMass", "exact_mass"), "float", 4, "Da"),
    "xlogp3": PropertySpec("XLogP3", ("PUBCHEM_XLOGP3", "PUBCHEM_XLOGP3_AA", "XLogP", "xlogp3", "XLogP3"), "float", 1),
    # ZINC20 tranche tables carry a computed logP under this name (not XLogP3, so labelled apart)
    "logp": PropertySpec("LogP", ("logp", "LogP"), "float", 2),
    "tpsa": PropertySpec("Topological polar surface area", ("PUBCHEM_CACTVS_TPSA", "TPSA", "tpsa"), "float", 1, "Å²"),
    "hbond_donors": PropertySpec(
        "Hydrogen bond donors", ("PUBCHEM_CACTVS_HBOND_DONOR", "HBondDonorCount", "hbd"), "int"),
    "hbond_acceptors": PropertySpec(
        "Hydrogen bond acceptors", ("PUBCHEM_CACTVS_HBOND_ACCEPTOR", "HBondAcceptorCount", "hba"), "int"),
    "rotatable_bonds": PropertySpec(
        "Rotatable bonds", ("PUBCHEM_CACTVS_ROTATABLE_BOND", "RotatableBondCount", "rotatable_bonds"), "int"),
    "heavy_atoms": PropertySpec("Heavy atoms", ("PUBCHEM_HEAVY_ATOM_COUNT", "HeavyAtomCount", "heavy_atoms"), "int"),
    "formal_charge": PropertySpec("Formal charge", ("PUBCHEM_TOTAL_CHARGE", "Charge", "formal_charge"), "int"),
    "complexity": PropertySpec("Complexity", ("PUBCHEM_CACTVS_COMPLEXITY", "Complexity", "complexity"), "float"),
    "homo_lumo_gap": PropertySpec(
        "HOMO-LUMO gap", ("homolumogap", "homo_lumo_gap", "PUBCHEMQC_HOMO_LUMO_GAP"), "float", 3, "eV"),
}

VIEW_LABELS = {"smiles": "SMILES", "selfies": "SELFIES", "mol3d": "3D structure"}
DEFAULT_VIEW_PROBS = {"smiles": 0.6, "selfies": 0.6, "mol3d": 0.5}
DEFAULT_FIELD_PROBS = {"iupac_name": 0.5, "description": 0.9, "properties": 0.4}


def _lookup(record: Mapping[str, Any], field: str, overrides: Mapping[str, str]) -> str | None:
    names = (overrides[field],) if field in overrides else FIELD_ALIASES.get(field, ())
    for name in names:
        value = record.get(name)
        if value is not None and str(value).strip() != "":
            return str(value).strip()
    return None


def _property_value(raw: str, name: str, spec: PropertySpec) -> str:
    if spec.kind == "text":
        return free_text(raw, f"property {name}")
    try:
        number = float(raw)
    except ValueError:
        raise RecordRejected(f"property {name}={raw!r} is not a number") from None
    if not math.isfinite(number):  # float() accepts "nan"/"inf"; parquet sources also hold NaN for missing
        raise RecordRejected(f"property {name}={raw!r} is not finite")
    if spec.kind == "int":
        if number != int(number):
            raise RecordRejected(f"property {name}={raw!r} should be an integer")
        text = str(int(number))
    elif spec.decimals is not None:
        text = format_fixed(number, spec.decimals)
    else:
        text = format_sig(number)
    return f"{text} {spec.unit}".rstrip()


# ---------------------------------------------------------------- structure handling

_VOCAB_CACHE: dict[str, frozenset[str] | None] = {}


def selfies_vocabulary(setting: str | None) -> frozenset[str] | None:
    """The SELFIES symbols instances may use. ``None``/"open": any (the first build, whose counts create
    the vocabulary); "default": the project's ``tokenizer_ext/``; otherwise a vocabulary directory."""
    if setting in (None, "open"):
        return None
    if setting not in _VOCAB_CACHE:
        from biomatrix_plugin.vocab.vocabulary import load_vocabulary

        vocab = load_vocabulary(None if setting == "default" else setting)
        _VOCAB_CACHE[setting] = frozenset(vocab.selfies_tokens)
    return _VOCAB_CACHE[setting]


def _mol3d_encoder() -> Callable | None:
    """MolStrucTok (biomatrix_plugin.mol3d) when it is installed; otherwise the 3D view is absent."""
    try:
        from biomatrix_plugin.mol3d import mol_to_wrapped_3d  # type: ignore[attr-defined]
    except ImportError:
        return None
    return mol_to_wrapped_3d


def mol3d_available() -> bool:
    return _mol3d_encoder() is not None


class MoleculeViews:
    """Canonical SMILES (always), SELFIES (computed on first use: it is the most expensive step and an
    instance that does not show the SELFIES view does not need it) and the 3D molecule when present."""

    def __init__(self, canonical_smiles: str, mol_3d: Any = None, struct_sfi: str | None = None):
        self.canonical_smiles = canonical_smiles
        self.mol_3d = mol_3d
        self.struct_sfi = struct_sfi  # precomputed MolStrucTok joint tokens (`biomatrix mol3d encode` JSONL)
        self._selfies: str | None = None

    @property
    def has_3d(self) -> bool:
        return bool(self.struct_sfi) or (self.mol_3d is not None and mol3d_available())

    @property
    def selfies(self) -> str:
        if self._selfies is None:
            from biomatrix_plugin.modalities import selfies_fast

            try:
                self._selfies = selfies_fast.encode(self.canonical_smiles)
            except Exception as exc:
                detail = " ".join(str(exc).split())  # selfies' message spans several lines
                raise RecordRejected(
                    f"SMILES {self.canonical_smiles[:60]!r}: SELFIES cannot express it ({detail})") from None
        return self._selfies


def smiles_limits(params: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """The card's ``max_smiles_chars`` / ``max_smiles_atoms`` (None: serialization's defaults)."""
    return params.get("max_smiles_chars"), params.get("max_smiles_atoms")


def check_smiles(smiles: str, limits: tuple[int | None, int | None]) -> None:
    """Reject a SMILES over the size limits before RDKit parses it (a 20,000-atom SMILES crashes RDKit)."""
    from biomatrix_plugin.modalities.serialization import SerializationError, check_smiles_size

    try:
        check_smiles_size(smiles, *limits)
    except SerializationError as exc:
        raise RecordRejected(str(exc)) from None


_V3000_COUNTS = re.compile(r"^M  V30 COUNTS\s+(\d+)", re.M)


def check_molblock(molblock: str, limits: tuple[int | None, int | None], what: str = "molfile block") -> None:
    """The atom limit for a molfile, read from its counts line before RDKit parses it."""
    from biomatrix_plugin.modalities.serialization import DEFAULT_MAX_SMILES_ATOMS

    max_atoms = DEFAULT_MAX_SMILES_ATOMS if limits[1] is None else limits[1]
    m = _V3000_COUNTS.search(molblock)
    lines = molblock.split("\n", 4)
    counts = m.group(1) if m else (lines[3][:3].strip() if len(lines) > 3 else "")
    if counts.isdigit() and int(counts) > max_atoms:
        raise RecordRejected(f"{what}: {int(counts):,} atoms, over the limit of {max_atoms:,} (max_smiles_atoms)")


def molecule_views(record: Mapping[str, Any], overrides: Mapping[str, str], want_3d: bool,
                   limits: tuple[int | None, int | None] = (None, None)) -> MoleculeViews:
    """Canonical SMILES and (when present) the 3D molecule of a record; rejects on failure (also for a
    molecule over the size ``limits``, checked before RDKit sees it)."""
    from rdkit import Chem

    smiles = _lookup(record, "smiles", overrides)
    molblock = record.get("molblock")
    if smiles is not None:
        check_smiles(smiles, limits)
    if molblock:
        check_molblock(molblock, limits)
    mol3d = None
    # rejected records are reported in the rejects file; RDKit's own stderr lines would only be noise
    with quiet_rdkit():
        if molblock and want_3d:
            m = Chem.MolFromMolBlock(molblock, removeHs=False)
            if m is not None and m.GetNumConformers() and m.GetConformer().Is3D():
                mol3d = m
        if smiles is not None:
            mol = Chem.MolFromSmiles(smiles)
            if mol is None:
                raise RecordRejected(f"SMILES {smiles[:60]!r}: RDKit cannot parse it")
        elif molblock:
            mol = Chem.MolFromMolBlock(molblock)
            if mol is None:
                raise RecordRejected("molfile block: RDKit cannot parse it")
        else:
            raise RecordRejected("no SMILES field and no molfile block")
        canonical = Chem.MolToSmiles(mol)
    if not canonical:
        raise RecordRejected("molecule has no atoms")
    struct_sfi = record.get("struct_sfi")
    return MoleculeViews(canonical, mol3d, str(struct_sfi).strip() if struct_sfi else None)


def render_view(view: str, mv: MoleculeViews, vocab: frozenset[str] | None) -> str:
    from biomatrix_plugin.modalities.serialization import (
        SerializationError,
        split_selfies,
        wrap_mol3d,
        wrap_selfies,
        wrap_smiles,
    )

    try:
        if view == "smiles":
            wrapped = wrap_smiles(mv.canonical_smiles)
        elif view == "selfies":
            allowed = vocab if vocab is not None else split_selfies(mv.selfies)
            wrapped = wrap_selfies(mv.selfies, vocabulary=allowed)
        elif view == "mol3d" and mv.struct_sfi:
            wrapped = wrap_mol3d(mv.struct_sfi)
        elif view == "mol3d":
            wrapped = _mol3d_encoder()(mv.mol_3d)
            if not wrapped.startswith("<|mol_3d_start|>"):
                wrapped = wrap_mol3d(wrapped)
        else:
            raise ValueError(view)
    except SerializationError as exc:
        raise RecordRejected(str(exc)) from None
    except ValueError as exc:  # Mol3DError (too many atoms, missing hydrogens, ...) names the problem
        raise RecordRejected(f"3D view: {exc}") from None
    return f"{VIEW_LABELS[view]}: {wrapped}"


def build_molecule(record: Mapping[str, Any], rng: random.Random, params: Mapping[str, Any]) -> list[dict]:
    """PubChem-style record -> one instance mixing structural views, names, description and properties.

    A molecule SELFIES cannot express is rejected (with the reason) when its instance samples the SELFIES
    view; otherwise its instance shows the other views.

    params: ``views`` {smiles, selfies, mol3d: probability}, ``fields`` {iupac_name, description,
    properties or a property name: probability}, ``require`` [field, ...] (reject when missing),
    ``field_names`` {canonical field: input column}, ``selfies_vocabulary`` (see
    :func:`selfies_vocabulary`), ``shuffle`` (default true), ``min_views`` (default 1).
    """
    overrides = params.get("field_names", {})
    view_probs = {**DEFAULT_VIEW_PROBS, **params.get("views", {})}
    field_probs = {**DEFAULT_FIELD_PROBS, **params.get("fields", {})}
    require = list(params.get("require", []))
    props_src = record.get("props", record)  # SDF tags live under "props"
    flat = {**props_src, **{k: v for k, v in record.items() if k != "props"}}

    for name in require:
        if name == "mol3d":
            continue
        if name in FIELD_ALIASES and _lookup(flat, name, overrides) is None:
            raise RecordRejected(f"required field {name!r} is missing or empty")

    want_3d = view_probs.get("mol3d", 0) > 0 and (mol3d_available() or "mol3d" in require)
    texts = {name: _lookup(flat, name, overrides) for name in ("iupac_name", "description")}
    for name, value in texts.items():
        if value is not None:
            free_text(value, name)
    mv = molecule_views(flat, overrides, want_3d, smiles_limits(params))
    if "mol3d" in require and not mv.has_3d:
        if mv.mol_3d is not None:
            raise RecordRejected("3D view required but biomatrix_plugin.mol3d (MolStrucTok) is not installed")
        raise RecordRejected("3D view required but the record has no 3D conformer with coordinates (or struct_sfi)")

    available = ["smiles", "selfies"] + (["mol3d"] if mv.has_3d and view_probs.get("mol3d", 0) > 0 else [])
    views = sample_views(rng, available, view_probs, DEFAULT_VIEW_PROBS, int(params.get("min_views", 1)))
    if "mol3d" in require and "mol3d" not in views:
        views.append("mol3d")
    vocab = selfies_vocabulary(params.get("selfies_vocabulary"))
    components = [Component(v, render_view(v, mv, vocab)) for v in views]

    for name, value in texts.items():
        if value is not None and (name in require or include(rng, field_probs, name, DEFAULT_FIELD_PROBS[name])):
            text = value if name == "description" else f"IUPAC name: {value}"
            components.append(Component(name, text))

    default_prop_p = float(field_probs.get("properties", DEFAULT_FIELD_PROBS["properties"]))
    for name, spec in PROPERTIES.items():
        col = overrides.get(name)
        raw = None
        for alias in ((col,) if col else spec.aliases):
            value = flat.get(alias)
            if value is not None and str(value).strip() != "":
                raw = str(value).strip()
                break
        if raw is None:
            continue
        value_text = _property_value(raw, name, spec)  # validate even when not sampled
        if include(rng, field_probs, name, default_prop_p):
            components.append(Component(name, f"{spec.label}: {value_text}"))

    return [{"text": compose(rng, components, shuffle=bool(params.get("shuffle", True)))}]


def build_molecule_text_pair(record: Mapping[str, Any], rng: random.Random, params: Mapping[str, Any]) -> list[dict]:
    """MolTextNet-style pair: the description is always present, the views are sampled."""
    merged = dict(params)
    merged["require"] = sorted(set(params.get("require", [])) | {"description"})
    merged.setdefault("views", {"smiles": 0.7, "selfies": 0.7, "mol3d": 0.0})
    merged.setdefault("fields", {"properties": 0.0, "iupac_name": 0.3})
    return build_molecule(record, rng, merged)


def build_conformer(record: Mapping[str, Any], rng: random.Random, params: Mapping[str, Any]) -> list[dict]:
    """3D conformer sets (PCQM4Mv2 / PubChemQC SDF): the MolStrucTok view is always present."""
    merged = dict(params)
    merged["require"] = sorted(set(params.get("require", [])) | {"mol3d"})
    merged.setdefault("views", {"smiles": 0.5, "selfies": 0.5, "mol3d": 1.0})
    return build_molecule(record, rng, merged)
