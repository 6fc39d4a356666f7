"""Pretraining instances for protein sources, after the tech report's §3.1.

Three-view pattern: a protein with a sequence and structure codes yields a 1D-only instance, a 3D-only
instance and a joint instance with the two views in random (seeded) order; a 1D-only source yields the
1D instance alone. A source with functional annotations (Swiss-Prot style) also yields a composite
instance under stochastic composition: each optional field is kept with a fixed probability, entries
within list-valued fields and the order of all kept components are shuffled.

Rows are LLaMA-Factory pretraining rows ``{"text": ...}``; sequences and structures are wrapped by
:mod:`biomatrix_plugin.modalities.serialization`, so they tokenize one residue / one code per token.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Mapping, Sequence

from biomatrix_plugin.modalities.serialization import (
    SerializationError,
    check_free_text,
    validate_structure_codes,
    wrap_prot3d,
    wrap_protein,
)

SEQUENCE_LABEL = "Protein sequence"
STRUCTURE_LABEL = "Protein 3D structure"


@dataclass(frozen=True)
class CompositionConfig:
    """Probabilities of stochastic composition for the composite instance."""

    p_sequence: float = 0.9
    p_structure: float = 0.8
    p_annotation: float = 0.7  # each annotation field independently
    view_separator: str = "\n"  # between the two views of a joint instance
    field_separator: str = "\n"  # between components of a composite instance
    entry_separator: str = "; "  # between entries of a list-valued annotation


DEFAULT_COMPOSITION = CompositionConfig()


def _as_rng(rng: random.Random | int | None) -> random.Random:
    if isinstance(rng, random.Random):
        return rng
    return random.Random(rng)


def _annotation_text(value: object, where: str) -> str:
    """One annotation value as free text: a string, or a number written as the number; anything else (a
    dict, a nested list, a bool) is refused rather than written into training text as a Python repr.
    Every text goes through the project's one free-text rule (no control tokens)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise SerializationError(f"{where}: expected text, a number or a list of them, got "
                                 f"{type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise SerializationError(f"{where}: {value} is not a finite number")
    return check_free_text(value if isinstance(value, str) else str(value), where).strip()


def clean_annotations(annotations: object, where: str = "annotations") -> dict[str, list[str] | str]:
    """``{field: str | list[str]}`` ready for training text, with empty fields (None, "", []) left out.
    Raises :class:`SerializationError` naming ``where`` and the field when the value is not a mapping, a
    field is not text/number/list of them, or a name or text holds a control token."""
    if annotations is None:
        return {}
    if not isinstance(annotations, Mapping):
        raise SerializationError(f"{where}: expected an object {{field: text}}, got {type(annotations).__name__}")
    cleaned: dict[str, list[str] | str] = {}
    for key, value in annotations.items():
        name = check_free_text(str(key), f"{where}: field name {str(key)!r}")
        if not name.strip():
            raise SerializationError(f"{where}: an empty field name")
        field_where = f"{where}[{name!r}]"
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            entries = [_annotation_text(v, f"{field_where}[{i}]") for i, v in enumerate(value) if v is not None]
            entries = [e for e in entries if e]
            if entries:
                cleaned[name] = entries
        else:
            text = _annotation_text(value, field_where)
            if text:
                cleaned[name] = text
    return cleaned


def composite_instance(
    sequence: str | None,
    codes: Sequence[int] | None,
    annotations: Mapping[str, object],
    rng: random.Random | int | None,
    config: CompositionConfig = DEFAULT_COMPOSITION,
) -> dict:
    """One ``{"text": ...}`` row combining annotations with the available modalities.

    At least one modality and one annotation field are always kept (a draw that keeps none keeps one
    chosen at random), so the row always grounds text in the protein.
    """
    rng = _as_rng(rng)
    fields = clean_annotations(annotations)
    if not fields:
        raise SerializationError("composite instance: no non-empty annotation field")
    modalities: list[tuple[str, str, float]] = []
    if sequence is not None:
        modalities.append((SEQUENCE_LABEL, wrap_protein(sequence), config.p_sequence))
    if codes is not None:
        modalities.append((STRUCTURE_LABEL, wrap_prot3d(codes, sequence), config.p_structure))
    if not modalities:
        raise SerializationError("composite instance: neither a sequence nor structure codes")

    kept_modalities = [(label, text) for label, text, p in modalities if rng.random() < p]
    if not kept_modalities:
        label, text, _ = modalities[rng.randrange(len(modalities))]
        kept_modalities = [(label, text)]
    kept_fields = [key for key in fields if rng.random() < config.p_annotation]
    if not kept_fields:
        kept_fields = [list(fields)[rng.randrange(len(fields))]]

    components = list(kept_modalities)
    for key in kept_fields:
        value = fields[key]
        if isinstance(value, list):
            value = list(value)
            rng.shuffle(value)
            value = config.entry_separator.join(value)
        components.append((key, value))
    rng.shuffle(components)
    return {"text": config.field_separator.join(f"{label}: {text}" for label, text in components)}


def three_view_instances(
    sequence: str | None,
    codes: Sequence[int] | None,
    rng: random.Random | int | None,
    annotations: Mapping[str, object] | None = None,
    config: CompositionConfig = DEFAULT_COMPOSITION,
) -> list[dict]:
    """Pretraining rows for one protein, in this order: 1D, 3D, joint, composite.

    sequence: amino acids (26-letter alphabet) or None; codes: structure codes 0-4095, one per residue,
    or None for a 1D-only source; rng: a ``random.Random`` (shared across a corpus build) or a seed;
    annotations: ``{field: str | number | list of them}`` for annotated sources (see
    :func:`clean_annotations`: no dict values, no control tokens). Raises ``SerializationError`` on
    bad input (invalid letters, codes out of range, length mismatch), naming the reason.

    - sequence and codes: 1D, 3D and joint rows (+ composite with annotations);
    - sequence only: the 1D row (+ composite);
    - codes only: the 3D row (+ composite).
    """
    if sequence is None and codes is None:
        raise SerializationError("three-view instances: neither a sequence nor structure codes")
    rng = _as_rng(rng)
    rows: list[dict] = []
    seq_text = wrap_protein(sequence) if sequence is not None else None
    struct_text = None
    if codes is not None:
        codes = validate_structure_codes(codes, sequence)
        struct_text = wrap_prot3d(codes)
    if seq_text is not None:
        rows.append({"text": seq_text})
    if struct_text is not None:
        rows.append({"text": struct_text})
    if seq_text is not None and struct_text is not None:
        views = [seq_text, struct_text]
        rng.shuffle(views)
        rows.append({"text": config.view_separator.join(views)})
    if annotations and clean_annotations(annotations):
        rows.append(composite_instance(sequence, codes, annotations, rng, config))
    return rows
