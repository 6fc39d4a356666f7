"""Text builders (report §3.1.1 and §3.1.4): plain documents passed through, and interleaved documents in
which every linked entity mention is followed inline by its wrapped representation."""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Any, Mapping

from biomatrix_plugin.corpus.compose import include
from biomatrix_plugin.corpus.records import RecordRejected, free_text
from biomatrix_plugin.errors import InputFileError


def build_text(record: Mapping[str, Any], rng: random.Random, params: Mapping[str, Any]) -> list[dict]:
    """params: ``text_field`` (default "text"), ``min_chars`` (default 1)."""
    field = params.get("text_field", "text")
    text = record.get(field)
    if not isinstance(text, str):
        raise RecordRejected(f"field {field!r} is missing or not a string")
    if len(text.strip()) < int(params.get("min_chars", 1)):
        raise RecordRejected(f"field {field!r} is shorter than min_chars={params.get('min_chars', 1)}")
    return [{"text": free_text(text, f"field {field!r}")}]


# ---------------------------------------------------------------- interleaved

MOLECULE_TYPES = {"molecule", "chemical", "drug", "compound"}
PROTEIN_TYPES = {"protein", "gene", "gene/protein"}


@lru_cache(maxsize=4)
def load_entity_table(path: str) -> dict[str, dict]:
    """Entity table: JSONL lines ``{"id": ..., "smiles": ...}`` or ``{"id": ..., "sequence": ...}``.

    Held in memory once per worker (it maps identifiers of linked entities, far smaller than the text)."""
    from biomatrix_plugin.io import iter_jsonl

    table: dict[str, dict] = {}
    for lineno, row, error in iter_jsonl(path):
        try:
            if error is not None:
                raise ValueError(error)
            table[str(row["id"])] = row
        except (ValueError, KeyError, TypeError) as exc:
            raise InputFileError(f"{path}:{lineno}: entity table line is not {{'id': ..., ...}} ({exc})") from None
    return table


def _entity_wrapping(entity: Mapping[str, Any], kind: str, rng: random.Random, params: Mapping[str, Any]) -> str | None:
    from biomatrix_plugin.modalities.serialization import (
        SerializationError,
        split_selfies,
        wrap_protein,
        wrap_selfies,
        wrap_smiles,
    )

    try:
        if kind == "molecule" and entity.get("smiles"):
            from biomatrix_plugin.corpus.molecules import molecule_views, smiles_limits

            mv = molecule_views({"smiles": entity["smiles"]}, {}, want_3d=False, limits=smiles_limits(params))
            views = params.get("molecule_views", {"smiles": 0.5, "selfies": 0.5})
            parts = []
            if include(rng, views, "smiles", 0.5):
                parts.append(wrap_smiles(mv.canonical_smiles))
            if include(rng, views, "selfies", 0.5) or not parts:
                from biomatrix_plugin.corpus.molecules import selfies_vocabulary

                vocab = selfies_vocabulary(params.get("selfies_vocabulary"))
                allowed = vocab if vocab is not None else split_selfies(mv.selfies)
                parts.append(wrap_selfies(mv.selfies, vocabulary=allowed))
            return " ".join(parts)
        if kind == "protein" and entity.get("sequence"):
            seq = entity["sequence"]
            if len(seq) > int(params.get("max_protein_length", 1000)):
                return None
            return wrap_protein(seq)
    except (SerializationError, RecordRejected) as exc:
        raise RecordRejected(f"entity {entity.get('id')!r}: {exc}") from None
    return None


def build_interleaved(record: Mapping[str, Any], rng: random.Random, params: Mapping[str, Any]) -> list[dict]:
    """A document with ``entities`` [{start, end, type, id}] (character offsets into ``text``) -> the text with
    each linked mention followed by its wrapped representation (SMILES/SELFIES or amino-acid sequence).

    params: ``entity_table`` (JSONL path; entities may also carry ``smiles``/``sequence`` themselves),
    ``molecule_views`` {smiles, selfies: probability}, ``max_protein_length`` (default 1000; longer
    proteins stay plain text), ``min_linked`` (default 1: documents with no linked mention are rejected,
    so that plain text does not leak into this source).
    """
    text = record.get(params.get("text_field", "text"))
    if not isinstance(text, str) or not text:
        raise RecordRejected("document text is missing or empty")
    free_text(text, "document text")
    entities = record.get("entities")
    if not isinstance(entities, list):
        raise RecordRejected("'entities' is missing or not a list")
    table = load_entity_table(params["entity_table"]) if params.get("entity_table") else {}
    spans = []
    for i, ent in enumerate(entities):
        try:
            start, end = int(ent["start"]), int(ent["end"])
        except (KeyError, TypeError, ValueError):
            raise RecordRejected(f"entity #{i}: needs integer 'start' and 'end'") from None
        if not 0 <= start < end <= len(text):
            raise RecordRejected(f"entity #{i}: span {start}-{end} outside the text (length {len(text)})")
        if ent.get("mention") is not None and text[start:end] != ent["mention"]:
            raise RecordRejected(f"entity #{i}: text[{start}:{end}]={text[start:end]!r} != mention {ent['mention']!r}")
        spans.append((start, end, ent))
    spans.sort(key=lambda s: (s[0], s[1]))
    for (s1, e1, _), (s2, _, ent2) in zip(spans, spans[1:]):
        if s2 < e1:
            raise RecordRejected(f"entity {ent2.get('id')!r} at {s2} overlaps the previous mention ending at {e1}")

    pieces, cursor, linked = [], 0, 0
    for start, end, ent in spans:
        etype = str(ent.get("type", "")).lower()
        kind = "molecule" if etype in MOLECULE_TYPES else "protein" if etype in PROTEIN_TYPES else None
        inline = {k: v for k, v in ent.items() if k in ("smiles", "sequence")}
        resolved = {"id": ent.get("id"), **table.get(str(ent.get("id")), {}), **inline}
        wrapped = _entity_wrapping(resolved, kind, rng, params) if kind else None
        pieces.append(text[cursor:end])
        if wrapped:
            pieces.append(" " + wrapped)
            linked += 1
        cursor = end
    pieces.append(text[cursor:])
    if linked < int(params.get("min_linked", 1)):
        raise RecordRejected(f"only {linked} mention(s) could be linked to a structure "
                             f"(min_linked={params.get('min_linked', 1)})")
    return [{"text": "".join(pieces)}]
