"""Interaction builders (report §3.1.4): molecule–protein affinities (BindingDB-style TSV) and
protein–protein pairs, verbalized with units and sensible precision."""

from __future__ import annotations

import random
import re
from typing import Any, Mapping

from .compose import Component, compose, format_concentration_nm, format_sig, sample_views
from .records import RecordRejected

# BindingDB_All.tsv column names (the "(nM)" columns hold values like "25.3", ">10000", "<0.1")
BINDINGDB_COLUMNS = {
    "smiles": "Ligand SMILES",
    "target_name": "Target Name",
    "sequence": "BindingDB Target Chain Sequence",
    "ligand_name": "BindingDB Ligand Name",
    "Ki": "Ki (nM)",
    "IC50": "IC50 (nM)",
    "Kd": "Kd (nM)",
    "EC50": "EC50 (nM)",
}
MEASURES = ("Ki", "Kd", "IC50", "EC50")
_QUALIFIED = re.compile(r"^\s*(>=|<=|>|<|~|=)?\s*([0-9.eE+-]+)\s*$")
_QUALIFIER_WORDS = {">": "greater than", ">=": "at least", "<": "less than", "<=": "at most", "~": "about"}


def _column(record: Mapping[str, Any], params: Mapping[str, Any], key: str) -> str | None:
    columns = {**BINDINGDB_COLUMNS, **params.get("columns", {})}
    value = record.get(columns.get(key, key))
    if value is None:
        # BindingDB renamed the chain column in later releases ("... Sequence 1")
        if key == "sequence":
            value = record.get(columns["sequence"] + " 1")
        if value is None:
            return None
    value = str(value).strip()
    return value or None


def parse_affinity(raw: str, measure: str) -> tuple[str, float]:
    m = _QUALIFIED.match(raw)
    if not m:
        raise RecordRejected(f"{measure} value {raw!r} is not a number (with optional >, <, ~)")
    value = float(m.group(2))
    if not value > 0:
        raise RecordRejected(f"{measure} value {raw!r} must be positive")
    return (m.group(1) or "="), value


def verbalize_affinity(measure: str, qualifier: str, value_nm: float) -> str:
    amount = format_concentration_nm(value_nm)
    if qualifier in ("=", ""):
        return f"{measure} = {amount}"
    return f"{measure} {_QUALIFIER_WORDS[qualifier]} {amount}"


def _ligand_component(smiles: str, rng: random.Random, params: Mapping[str, Any]) -> Component:
    from ..serialization import SerializationError, wrap_selfies, wrap_smiles
    from .molecules import DEFAULT_VIEW_PROBS, molecule_views, selfies_vocabulary
    from ..serialization import split_selfies

    mv = molecule_views({"smiles": smiles}, {}, want_3d=False)
    views = sample_views(rng, ["smiles", "selfies"], params.get("views", {}), DEFAULT_VIEW_PROBS)
    vocab = selfies_vocabulary(params.get("selfies_vocabulary"))
    parts = []
    try:
        for view in views:
            if view == "smiles":
                parts.append(wrap_smiles(mv.canonical_smiles))
            else:
                parts.append(wrap_selfies(mv.selfies, vocabulary=vocab if vocab is not None else split_selfies(mv.selfies)))
    except SerializationError as exc:
        raise RecordRejected(str(exc)) from None
    return Component("ligand", "Ligand: " + " ".join(parts))


def build_binding_affinity(record: Mapping[str, Any], rng: random.Random, params: Mapping[str, Any]) -> list[dict]:
    """BindingDB-style row -> ligand, target and every measured affinity of the row.

    params: ``columns`` {smiles, target_name, sequence, Ki, IC50, Kd, EC50: column name},
    ``views`` {smiles, selfies: probability}, ``max_protein_length`` (default 2000), ``shuffle``."""
    from .proteins import wrapped_sequence

    smiles = _column(record, params, "smiles")
    sequence = _column(record, params, "sequence")
    if smiles is None:
        raise RecordRejected("no ligand SMILES")
    if sequence is None:
        raise RecordRejected("no target sequence")
    measurements = []
    for measure in MEASURES:
        raw = _column(record, params, measure)
        if raw is not None:
            measurements.append(verbalize_affinity(measure, *parse_affinity(raw, measure)))
    if not measurements:
        raise RecordRejected(f"no affinity value in any of {', '.join(MEASURES)}")
    target_name = _column(record, params, "target_name")
    protein = wrapped_sequence(sequence, target_name or "target", int(params.get("max_protein_length", 2000)))
    target_text = f"Target: {target_name} {protein}" if target_name else f"Target: {protein}"
    components = [_ligand_component(smiles, rng, params), Component("target", target_text)]
    body = compose(rng, components, shuffle=bool(params.get("shuffle", True)))
    rng.shuffle(measurements)
    return [{"text": f"{body}\nBinding affinity: {'; '.join(measurements)}."}]


_TRUE = {"1", "true", "yes", "y", "positive", "interact", "interacting"}
_FALSE = {"0", "false", "no", "n", "negative", "non-interacting"}


def build_protein_pair(record: Mapping[str, Any], rng: random.Random, params: Mapping[str, Any]) -> list[dict]:
    """Protein–protein pair -> both sequences (random order) and the label or affinity.

    params: ``columns`` {sequence_a, sequence_b, label, affinity: column name}, ``affinity_name``
    (e.g. "predicted log10 Kd"), ``affinity_unit``, ``max_protein_length`` (default 2000)."""
    from .proteins import wrapped_sequence

    columns = {"sequence_a": "sequence_a", "sequence_b": "sequence_b", "label": "label", "affinity": "affinity"}
    columns.update(params.get("columns", {}))
    max_len = int(params.get("max_protein_length", 2000))
    seqs = []
    for key in ("sequence_a", "sequence_b"):
        value = record.get(columns[key])
        if not value or not str(value).strip():
            raise RecordRejected(f"missing {key} (column {columns[key]!r})")
        seqs.append(wrapped_sequence(str(value), key, max_len))
    components = [Component("a", f"Protein: {seqs[0]}"), Component("b", f"Protein: {seqs[1]}")]
    body = compose(rng, components, shuffle=bool(params.get("shuffle", True)))
    label_raw = record.get(columns["label"])
    affinity_raw = record.get(columns["affinity"])
    if affinity_raw is not None and str(affinity_raw).strip():
        try:
            value = float(affinity_raw)
        except ValueError:
            raise RecordRejected(f"affinity {affinity_raw!r} is not a number") from None
        name = params.get("affinity_name", "Binding affinity")
        unit = params.get("affinity_unit", "")
        statement = f"{name}: {format_sig(value)} {unit}".rstrip() + "."
    elif label_raw is not None and str(label_raw).strip():
        label = str(label_raw).strip().lower()
        if label in _TRUE:
            statement = "These two proteins interact."
        elif label in _FALSE:
            statement = "These two proteins do not interact."
        else:
            raise RecordRejected(f"label {label_raw!r} is not one of {sorted(_TRUE | _FALSE)}")
    else:
        raise RecordRejected("neither a label nor an affinity value")
    return [{"text": f"{body}\n{statement}"}]
