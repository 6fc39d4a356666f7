"""Interaction builders (report §3.1.4): molecule–protein affinities (BindingDB-style TSV) and
protein–protein pairs, verbalized with units and sensible precision."""

from __future__ import annotations

import math
import os
import random
import re
from functools import lru_cache
from typing import Any, Mapping

from biomatrix_plugin.corpus.compose import Component, compose, format_concentration_nm, format_sig, sample_views
from biomatrix_plugin.corpus.records import BadRecord, RecordRejected, free_text
from biomatrix_plugin.errors import InputFileError

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


# ---------------------------------------------------------------- identifier tables (STITCH-style links)

CHEMICAL_SMILES_COLUMNS = ("SMILES_string", "SMILES", "smiles")  # STITCH chemicals.v5.0.tsv: SMILES_string


@lru_cache(maxsize=2)
def load_chemical_table(path: str, id_column: str = "chemical", smiles_column: str | None = None) -> dict[str, str]:
    """chemical id -> SMILES from a TSV such as STITCH's ``chemicals.v5.0.tsv(.gz)`` (columns chemical, name,
    molecular_weight, SMILES_string); held in memory per worker, so use the per-organism link files and
    this table, not all of STITCH, on small machines."""
    from biomatrix_plugin.corpus.records import iter_raw

    table: dict[str, str] = {}
    for i, row in enumerate(iter_raw(path, "tsv")):
        if isinstance(row, BadRecord):  # a side table is prepared once: a bad line is an error, not a reject
            raise InputFileError(f"{path}: row {i + 1}: {row.reason}")
        if i == 0:
            names = [c for c in ((smiles_column,) if smiles_column else CHEMICAL_SMILES_COLUMNS) if c in row]
            if id_column not in row or not names:
                header = ", ".join(k for k in row if k)
                raise ValueError(f"{path}: needs columns {id_column!r} and one of "
                                 f"{smiles_column or CHEMICAL_SMILES_COLUMNS} (header: {header})")
            smiles_key = names[0]
        ident, smiles = (row.get(id_column) or "").strip(), (row.get(smiles_key) or "").strip()
        if ident and smiles:
            table[ident] = smiles
    return table


@lru_cache(maxsize=2)
def load_sequence_table(path: str) -> dict[str, str]:
    """FASTA id (first word of the header, e.g. STRING's ``9606.ENSP00000269305``) -> sequence."""
    from biomatrix_plugin.corpus.records import iter_raw, parse_fasta_entry

    table: dict[str, str] = {}
    for i, entry in enumerate(iter_raw(path, "fasta")):
        if isinstance(entry, BadRecord):
            raise InputFileError(f"{path}: entry {i + 1}: {entry.reason}")
        fields = parse_fasta_entry(entry)
        table[fields["id"]] = fields["sequence"]
    return table


def _lookup_id(record: Mapping[str, Any], params: Mapping[str, Any], key: str) -> str | None:
    """SMILES or sequence through an identifier table when the row holds an id instead (STITCH links)."""
    table_param, id_key, default_column = (("chemical_table", "chemical_id", "chemical") if key == "smiles"
                                           else ("sequence_table", "protein_id", "protein"))
    if not params.get(table_param):
        return None
    column = params.get("columns", {}).get(id_key, default_column)
    ident = str(record.get(column) or "").strip()
    if not ident:
        raise RecordRejected(f"no {id_key} (column {column!r})")
    table = (load_chemical_table(params[table_param], params.get("chemical_id_column", "chemical"),
                                 params.get("chemical_smiles_column"))
             if key == "smiles" else load_sequence_table(params[table_param]))
    value = table.get(ident)
    if value is None:
        raise RecordRejected(f"{id_key} {ident!r} is not in {table_param} {os.path.basename(params[table_param])}")
    return value


# ---------------------------------------------------------------- generic measures (jglaser, STITCH)

MEASURE_KINDS = ("nM", "uM", "p_molar", "score")


def verbalize_measure(raw: Any, spec: Mapping[str, Any]) -> str:
    """One value of a card-declared measure: ``kind`` nM / uM (concentrations, qualifiers allowed),
    p_molar (-log10 of a molar affinity, shown as a concentration too) or score (a number times ``scale``
    with an optional ``unit``); values below ``min`` are rejected."""
    name = spec.get("name") or spec["column"]
    kind = spec.get("kind", "nM")
    text = str(raw).strip()
    if kind in ("nM", "uM"):
        qualifier, value = parse_affinity(text, name)
        value_nm = value * (1000.0 if kind == "uM" else 1.0)
        if spec.get("min") is not None and value_nm < float(spec["min"]):
            raise RecordRejected(f"{name} {text} is below min={spec['min']}")
        return verbalize_affinity(name, qualifier, value_nm)
    try:
        value = float(text)
    except ValueError:
        raise RecordRejected(f"{name} value {text!r} is not a number") from None
    if not math.isfinite(value):
        raise RecordRejected(f"{name} value {text!r} is not finite")
    if spec.get("min") is not None and value < float(spec["min"]):
        raise RecordRejected(f"{name} {text} is below min={spec['min']}")
    if kind == "p_molar":
        try:
            value_nm = 10 ** (9.0 - value)
        except OverflowError:
            value_nm = math.inf
        if not 0.0 < value_nm < math.inf:  # -log10 M beyond about ±300 is no concentration
            raise RecordRejected(f"{name} value {text!r} (-log10 M) is out of range")
        return f"{name} = {format_concentration_nm(value_nm)} (-log10 M = {format_sig(value)})"
    value *= float(spec.get("scale", 1.0))
    return f"{name} = {format_sig(value)} {spec.get('unit', '')}".rstrip()


def parse_affinity(raw: str, measure: str) -> tuple[str, float]:
    m = _QUALIFIED.match(raw)
    if not m:
        raise RecordRejected(f"{measure} value {raw!r} is not a number (with optional >, <, ~)")
    try:
        value = float(m.group(2))  # the pattern admits "1-2" or "1e5e3", which are not numbers
    except ValueError:
        raise RecordRejected(f"{measure} value {raw!r} is not a number (with optional >, <, ~)") from None
    if not math.isfinite(value):
        raise RecordRejected(f"{measure} value {raw!r} is not finite")
    if not value > 0:
        raise RecordRejected(f"{measure} value {raw!r} must be positive")
    return (m.group(1) or "="), value


def verbalize_affinity(measure: str, qualifier: str, value_nm: float) -> str:
    amount = format_concentration_nm(value_nm)
    if qualifier in ("=", ""):
        return f"{measure} = {amount}"
    return f"{measure} {_QUALIFIER_WORDS[qualifier]} {amount}"


def _ligand_component(smiles: str, rng: random.Random, params: Mapping[str, Any]) -> Component:
    from biomatrix_plugin.corpus.molecules import DEFAULT_VIEW_PROBS, molecule_views, selfies_vocabulary, smiles_limits
    from biomatrix_plugin.modalities.serialization import SerializationError, split_selfies, wrap_selfies, wrap_smiles

    mv = molecule_views({"smiles": smiles}, {}, want_3d=False, limits=smiles_limits(params))
    views = sample_views(rng, ["smiles", "selfies"], params.get("views", {}), DEFAULT_VIEW_PROBS)
    vocab = selfies_vocabulary(params.get("selfies_vocabulary"))
    parts = []
    try:
        for view in views:
            if view == "smiles":
                parts.append(wrap_smiles(mv.canonical_smiles))
            else:
                allowed = vocab if vocab is not None else split_selfies(mv.selfies)
                parts.append(wrap_selfies(mv.selfies, vocabulary=allowed))
    except SerializationError as exc:
        raise RecordRejected(str(exc)) from None
    return Component("ligand", "Ligand: " + " ".join(parts))


def build_binding_affinity(record: Mapping[str, Any], rng: random.Random, params: Mapping[str, Any]) -> list[dict]:
    """BindingDB-style row -> ligand, target and every measured affinity of the row.

    params: ``columns`` {smiles, target_name, sequence, Ki, IC50, Kd, EC50, chemical_id, protein_id: column
    name}, ``views`` {smiles, selfies: probability}, ``max_protein_length`` (default 2000), ``shuffle``;
    ``measures`` [{column, name, kind: nM|uM|p_molar|score, scale, unit, min}] replaces the BindingDB
    measure columns (jglaser: ``neg_log10_affinity_M``; STITCH: ``combined_score``);
    ``statement_label`` (default "Binding affinity"); ``chemical_table`` / ``sequence_table``: id -> SMILES
    TSV and id -> sequence FASTA for rows that hold identifiers (STITCH ``chemical`` / ``protein``)."""
    from biomatrix_plugin.corpus.proteins import wrapped_sequence

    smiles = _column(record, params, "smiles") or _lookup_id(record, params, "smiles")
    sequence = _column(record, params, "sequence") or _lookup_id(record, params, "sequence")
    if smiles is None:
        raise RecordRejected("no ligand SMILES")
    if sequence is None:
        raise RecordRejected("no target sequence")
    measurements = []
    if params.get("measures"):
        for spec in params["measures"]:
            raw = record.get(spec["column"])
            if raw is not None and str(raw).strip() != "":
                measurements.append(verbalize_measure(raw, spec))
        if not measurements:
            raise RecordRejected(f"no value in any of {', '.join(repr(m['column']) for m in params['measures'])}")
    else:
        for measure in MEASURES:
            raw = _column(record, params, measure)
            if raw is not None:
                measurements.append(verbalize_affinity(measure, *parse_affinity(raw, measure)))
        if not measurements:
            raise RecordRejected(f"no affinity value in any of {', '.join(MEASURES)}")
    target_name = _column(record, params, "target_name")
    if target_name is not None:
        free_text(target_name, "target name")
    protein = wrapped_sequence(sequence, target_name or "target", int(params.get("max_protein_length", 2000)))
    target_text = f"Target: {target_name} {protein}" if target_name else f"Target: {protein}"
    components = [_ligand_component(smiles, rng, params), Component("target", target_text)]
    body = compose(rng, components, shuffle=bool(params.get("shuffle", True)))
    rng.shuffle(measurements)
    return [{"text": f"{body}\n{params.get('statement_label', 'Binding affinity')}: {'; '.join(measurements)}."}]


_TRUE = {"1", "true", "yes", "y", "positive", "interact", "interacting"}
_FALSE = {"0", "false", "no", "n", "negative", "non-interacting"}


def build_protein_pair(record: Mapping[str, Any], rng: random.Random, params: Mapping[str, Any]) -> list[dict]:
    """Protein–protein pair -> both sequences (random order) and the label or affinity.

    params: ``columns`` {sequence_a, sequence_b, label, affinity: column name}, ``affinity_name``
    (e.g. "predicted log10 Kd"), ``affinity_unit``, ``max_protein_length`` (default 2000)."""
    from biomatrix_plugin.corpus.proteins import wrapped_sequence

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
        except (TypeError, ValueError):
            raise RecordRejected(f"affinity {affinity_raw!r} (column {columns['affinity']!r}) "
                                 "is not a number") from None
        if not math.isfinite(value):  # float() accepts "nan" and "inf"; neither is a measurement
            raise RecordRejected(f"affinity {affinity_raw!r} (column {columns['affinity']!r}) is not finite")
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
