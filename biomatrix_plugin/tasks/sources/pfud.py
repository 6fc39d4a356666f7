"""PFUD, ProtTeX's Protein Function Understanding Dataset (tech report Table 25): protein sequence + 3D
structure + question -> free-text answer.

**No public copy of PFUD was found** (GitHub ``mzc2113391/ProtTeX`` has inference scripts only; HF ``mzcwd/ProtTeX``
is the model). This converter reads the fields the ProtTeX paper describes for each item: the protein's
UniProt accession, its amino-acid sequence, its (AFDB-predicted) structure, a question from one of six
categories (molecular function, subcellular location, biological process, domains and motifs, functional
summary, composite) and the reference answer. Expected layout, one JSON object a line
(``pfud/{split}.jsonl``)::

    {"id": "P69905", "category": "function", "question": "...", "answer": "...",
     "sequence": "MVLSPADKTN...", "structure": "P69905"}

``structure`` names the chain's row in a GCP-VQVAE ``vq_indices.csv`` (option ``codes``; its ``pid``) or holds
the codes themselves (a list of ints or a "1 2 3" string). ProtTeX's own ProToken codes are another
tokenizer and must not be given here. A row whose structure has no codes, or whose codes do not align with
its sequence, is a reject naming the structure. Without the raw files the build stops with one error saying
that PFUD is not public (see :func:`prepare_pfud`).
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

from biomatrix_plugin import schema as S
from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.errors import InputFileError
from biomatrix_plugin.modalities.serialization import SerializationError, parse_code_list, validate_structure_codes
from biomatrix_plugin.tasks import entities
from biomatrix_plugin.tasks.converters import Context, ConverterSpec, Example, PrepareContext, field
from biomatrix_plugin.tasks.sources.dplm2 import load_codes, model_alphabet

CATEGORIES = ("function", "location", "process", "domain", "summary", "composite")
NOT_PUBLIC = ("PFUD (ProtTeX, Ma et al. 2025) has no public download: github.com/mzc2113391/ProtTeX ships no data "
              "and no split lists. Put the dataset, as the ProtTeX authors provide it, under RAW_ROOT/pfud/ as "
              "{split}.jsonl with fields id, question, answer, sequence, structure (see "
              "docs/tasks_protein_design_structure.md), and its GCP-VQVAE codes in the vq_indices.csv that "
              "source.options.codes names")


def prepare_pfud(pc: PrepareContext) -> dict:
    """The codes file (path, size, mtime), or one error saying the data is not public when it is missing."""
    codes = pc.options.get("codes")
    if not codes:
        return {}
    path = str((pc.raw_root / codes).resolve())
    if not os.path.isfile(path):
        raise InputFileError(f"task {pc.task_id}: no structure codes file {path}. {NOT_PUBLIC}")
    stat = os.stat(path)
    return {"codes": {"path": path, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}}


def _structure(row: Mapping[str, Any], sequence: str, ctx: Context) -> entities.Structure:
    ref = field(row, "structure")
    name = ref if isinstance(ref, str) else "(inline codes)"
    codes: list[int] | None = None
    if isinstance(ref, list) or (isinstance(ref, str) and ref.strip()[:1].isdigit()):
        try:
            codes = list(ref) if isinstance(ref, list) else parse_code_list(ref)
        except SerializationError as exc:
            raise RecordRejected(f"structure: {exc}") from None
    elif isinstance(ref, str) and ref.strip():
        entry = ctx.prepared.get("codes")
        if entry is None:
            raise RecordRejected(f"structure {ref!r}: a name, but no codes file is configured (option codes)")
        table = load_codes(entry["path"], entry["size"], entry["mtime_ns"])
        found = table.by_pid.get(ref.strip())
        if found is None:
            raise RecordRejected(f"structure {ref!r}: no GCP-VQVAE codes in {table.path}")
        codes, stored = list(found[0]), found[1]
        if model_alphabet(stored) != model_alphabet(sequence):
            raise RecordRejected(f"structure {ref!r}: its codes were computed on another sequence "
                                 f"({len(stored)} vs {len(sequence)} residues)")
    else:
        raise RecordRejected("structure: empty (a vq_indices pid or the codes)")
    try:
        return entities.Structure(tuple(validate_structure_codes(codes, sequence)), sequence)
    except SerializationError as exc:
        raise RecordRejected(f"structure {name!r}: {exc}") from None


def convert_pfud(row: Mapping[str, Any], ctx: Context) -> list[Example]:
    protein = entities.protein(field(row, "sequence"), "sequence")
    structure = _structure(row, protein.sequence, ctx)
    question = entities.text(field(row, "question"), "question")
    answer = entities.text(field(row, "answer"), "answer")
    category = row.get("category")
    if category is not None and category not in CATEGORIES:
        raise RecordRejected(f"category {category!r}: not one of {', '.join(CATEGORIES)}")
    raw_input = json.dumps({"id": row.get("id"), "question": question, "sequence": protein.sequence},
                           sort_keys=True)
    return [Example({"protein": protein, "structure": structure, "question": question}, answer, raw_input,
                    answer)]


PFUD_OPTIONS = S.Spec(fields={
    "codes": S.Str(nonempty=True),  # vq_indices.csv (relative to --raw) holding the structures' codes
}, what="option of converter 'pfud'")

CONVERTERS: dict[str, ConverterSpec] = {
    "pfud": ConverterSpec(convert_pfud, "jsonl", PFUD_OPTIONS,
                          "PFUD pfud/{split}.jsonl (id, question, answer, sequence, structure) + GCP-VQVAE "
                          "vq_indices.csv; not public", prepare=prepare_pfud),
}
