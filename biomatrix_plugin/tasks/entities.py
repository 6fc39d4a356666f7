"""The values a converter reads out of a raw row, checked once and rendered per notation variant.

A molecule is parsed and canonicalised by RDKit exactly once (:func:`molecule`); its SMILES and SELFIES
are both derived from that canonical form, so the ``smiles`` and ``selfies`` variants of a row show the same
molecule. Every failure is a :class:`~biomatrix_plugin.corpus.records.RecordRejected` whose message is the
reject reason (which field, which value, why).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.errors import short_repr as _short
from biomatrix_plugin.io import quiet_rdkit
from biomatrix_plugin.modalities.serialization import (
    SerializationError,
    check_free_text,
    check_smiles_size,
    check_struct_sfi,
    has_whitespace,
    normalize_protein,
    parse_code_list,
    split_selfies,
    validate_structure_codes,
    wrap_mol3d,
    wrap_prot3d,
    wrap_protein,
    wrap_selfies,
    wrap_smiles,
)

# Per-process caches keyed by the distinct entity: SMolInstruct repeats molecules heavily (reagents and
# solvents in every reaction, one molecule in I2S, S2F, S2I), so each distinct component is parsed,
# canonicalised, encoded to SELFIES and wrapped once per worker. Bounded, so memory stays flat.
_CACHE_SIZE = 1 << 18


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _canonical_component(smiles: str) -> str | None:
    """RDKit's canonical SMILES of one '.'-free component, or None when RDKit cannot parse it."""
    from rdkit import Chem

    with quiet_rdkit():  # the reason goes to the rejects file; RDKit's own log line would be noise
        mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    return Chem.MolToSmiles(mol)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _selfies_component(canonical: str) -> tuple[str | None, str | None]:
    """(SELFIES, None) or (None, the encoder's reason) for one canonical component."""
    from biomatrix_plugin.modalities import selfies_fast

    try:
        return selfies_fast.encode(canonical), None
    except Exception as exc:  # selfies raises EncoderError (or a bare Exception subclass) with the reason
        return None, " ".join(str(exc).split())


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _wrapped_smiles(canonical: str) -> str:
    return wrap_smiles(canonical, validated=True)  # RDKit wrote it: no second parse


@dataclass
class Molecule:
    """One entity (a molecule, or the '.'-joined components of a reaction side) as canonical SMILES: each
    component canonicalised by RDKit, components in sorted order (as SMolInstruct writes them); its SELFIES
    is the '.'-joined SELFIES of the same components, computed on first use."""

    smiles: str
    where: str
    _selfies: str | None = field(default=None, repr=False)

    @property
    def selfies(self) -> str:
        if self._selfies is None:
            parts = []
            for component in self.smiles.split("."):
                encoded, reason = _selfies_component(component)
                if encoded is None:
                    raise RecordRejected(f"{self.where}: SMILES {_short(component)}: SELFIES cannot express it "
                                         f"({reason})")
                parts.append(encoded)
            self._selfies = ".".join(parts)
        return self._selfies

    def payload(self, notation: str) -> str:
        return self.selfies if notation == "selfies" else self.smiles

    def wrapped(self, notation: str, vocabulary: frozenset[str] | None = None) -> str:
        """The wrapped segment in ``notation``; ``vocabulary`` None = any SELFIES symbol."""
        try:
            if notation == "selfies":
                allowed = vocabulary if vocabulary is not None else split_selfies(self.selfies)
                return wrap_selfies(self.selfies, vocabulary=allowed)
            return _wrapped_smiles(self.smiles)
        except SerializationError as exc:
            raise RecordRejected(f"{self.where}: {exc}") from None


def molecule(value: Any, where: str) -> Molecule:
    """Parse a SMILES ('.' joins the components of a reaction side) and canonicalise it once."""
    if not isinstance(value, str) or not value.strip():
        raise RecordRejected(f"{where}: empty molecule field")
    smiles = value.strip()
    if has_whitespace(smiles):
        raise RecordRejected(f"{where}: SMILES {_short(smiles)} contains whitespace")
    try:
        check_smiles_size(smiles)
    except SerializationError as exc:
        raise RecordRejected(f"{where}: {exc}") from None
    parts = [_canonical_component(c) for c in smiles.split(".")] if smiles.strip(".") == smiles else [None]
    if None in parts:
        # a ring bond may span a dot ("C1.C1" is ethane): parse the whole string before rejecting it
        whole = _canonical_component(smiles)
        if whole is None:
            raise RecordRejected(f"{where}: SMILES {_short(smiles)}: RDKit cannot parse it")
        parts = whole.split(".")
    return Molecule(".".join(sorted(parts)), where)


def text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RecordRejected(f"{where}: empty text field")
    try:
        return check_free_text(" ".join(value.split()), where)
    except SerializationError as exc:
        raise RecordRejected(str(exc)) from None


_FORMULA = re.compile(r"[A-Z][A-Za-z0-9().+\-\[\]*·]*")


def formula(value: Any, where: str) -> str:
    value = text(value, where)
    if not _FORMULA.fullmatch(value):
        raise RecordRejected(f"{where}: {_short(value)} is not a molecular formula")
    return value


def number(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise RecordRejected(f"{where}: {_short(value)} is not a number")
    try:
        result = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise RecordRejected(f"{where}: {_short(value)} is not a number") from None
    if not math.isfinite(result):
        raise RecordRejected(f"{where}: {_short(value)} is not a finite number")
    return result


def label(value: Any, labels: Mapping[str, str], where: str) -> str:
    """The raw label's key in ``labels`` (matched as written, then case-insensitively; JSON booleans read as
    true/false)."""
    raw = ("true" if value else "false") if isinstance(value, bool) else value
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not raw.strip():
        raise RecordRejected(f"{where}: empty label")
    raw = raw.strip()
    if raw in labels:
        return raw
    folded = {k.lower(): k for k in labels}
    if raw.lower() in folded:
        return folded[raw.lower()]
    raise RecordRejected(f"{where}: label {_short(raw)} is outside the label set ({', '.join(labels)})")


DEFAULT_LABEL_SEP = "; "


def label_set(value: Any, where: str, sep: str = DEFAULT_LABEL_SEP) -> tuple[str, ...]:
    """A set-valued label (EC numbers, GO terms, keywords, cancers): a list, or a string split on ``sep``
    (stripped, so "a;b" and "a; b" agree); order kept, duplicates and empty parts dropped. Never split on
    commas: GO term names contain commas."""
    if isinstance(value, str):
        parts = value.split(sep.strip() or sep)
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        raise RecordRejected(f"{where}: {_short(value)} is not a label list")
    labels: dict[str, None] = {}
    for i, part in enumerate(parts):
        if not isinstance(part, str):
            raise RecordRejected(f"{where}[{i}]: {_short(part)} is not a label")
        cleaned = " ".join(part.split())
        if cleaned:
            labels[text(cleaned, f"{where}[{i}]")] = None
    if not labels:
        raise RecordRejected(f"{where}: empty label set")
    return tuple(labels)


@dataclass(frozen=True)
class Protein:
    """An amino-acid sequence (uppercase, whitespace removed), rendered as ``<|prot_aa_start|>...``."""

    sequence: str

    def wrapped(self, notation: str = "default", vocabulary=None) -> str:
        return wrap_protein(self.sequence)

    def payload(self, notation: str = "default") -> str:
        return self.sequence


def protein(value: Any, where: str) -> Protein:
    if not isinstance(value, str) or not value.strip():
        raise RecordRejected(f"{where}: empty protein sequence")
    try:
        return Protein(normalize_protein("".join(value.split()).upper()))
    except SerializationError as exc:
        raise RecordRejected(f"{where}: {exc}") from None


@dataclass(frozen=True)
class Structure:
    """GCP-VQVAE structure codes of one chain (and its sequence when known), rendered as
    ``<|prot_3d_start|>...``; the payload a metric compares is the code list."""

    codes: tuple[int, ...]
    sequence: str | None = None

    def wrapped(self, notation: str = "default", vocabulary=None) -> str:
        return wrap_prot3d(self.codes, self.sequence)

    def payload(self, notation: str = "default") -> list[int]:
        return list(self.codes)


def structure(value: Any, where: str, sequence: str | None = None) -> Structure:
    """Codes as a list of ints or a "1,2,3" / "1 2 3" string (ASCII digits only), optionally with the
    chain's sequence (the lengths must match)."""
    try:
        if isinstance(value, str):
            codes = parse_code_list(value)
        elif isinstance(value, (list, tuple)):
            codes = list(value)
        else:
            raise RecordRejected(f"{where}: {_short(value)} is not a list of structure codes")
        seq = protein(sequence, f"{where} sequence").sequence if sequence is not None else None
        return Structure(tuple(validate_structure_codes(codes, seq)), seq)
    except SerializationError as exc:
        raise RecordRejected(f"{where}: {exc}") from None


@dataclass(frozen=True)
class Mol3D:
    """A MolStrucTok joint-token string (``[C 12][=O 3]...``), checked by the one joint-token validator and
    rendered as ``<|mol_3d_start|>...``. Converters that start from coordinates encode them with the mol3d
    package first."""

    struct_sfi: str

    def wrapped(self, notation: str = "default", vocabulary=None) -> str:
        return wrap_mol3d(self.struct_sfi)

    def payload(self, notation: str = "default") -> str:
        return self.struct_sfi


def mol3d(value: Any, where: str) -> Mol3D:
    if not isinstance(value, str) or not value.strip():
        raise RecordRejected(f"{where}: empty molecule-3D token string")
    try:
        return Mol3D(check_struct_sfi(value.strip()))
    except SerializationError as exc:
        raise RecordRejected(f"{where}: {exc}") from None


def read(kind: str, value: Any, where: str, labels: Mapping[str, str] | None = None,
         sep: str = DEFAULT_LABEL_SEP):
    """One field of ``kind`` (the task file's ``input.kind`` / ``input.fields`` / ``response.kind``)."""
    if kind == "molecule":
        return molecule(value, where)
    if kind == "number":
        return number(value, where)
    if kind == "label":
        return label(value, labels or {}, where)
    if kind == "label_set":
        return label_set(value, where, sep)
    if kind == "formula":
        return formula(value, where)
    if kind == "protein":
        return protein(value, where)
    if kind == "protein3d":
        return structure(value, where)
    if kind == "mol3d":
        return mol3d(value, where)
    if kind == "none":
        if value not in (None, ""):
            raise RecordRejected(f"{where}: this task takes no input, got {_short(value)}")
        return None
    return text(value, where)  # text, iupac
