"""MoleculeQA (HF ``hcaoaf/MoleculeQA``): four-option multiple-choice questions about one molecule, answered
with the option letter. ``JSON/All/{train,valid,test}.json`` hold every question; the category (Structure,
Source, Property, Usage = the report's "Application") comes from the row's own ``category`` field, else from
``qid2category.json`` by the row's question id. Each task keeps the rows of its category; a row of another
category is a reject that names it (so the four tasks' read counts add up to the file).

Row layout (the field names were not seen in the files; taken from loaders that read them, OpenBioMed's
MQA dataset and a published SFT formatter): ``smiles`` (a SMILES, or a list holding one), ``question`` (the
question, with the options as ``Option A: ...`` lines unless ``options`` gives them), ``options`` (optional:
a list of four texts or a mapping letter -> text), ``answer`` (the letter, ``Option B``, or the correct
option's text).
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from biomatrix_plugin import schema as S
from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.errors import InputFileError
from biomatrix_plugin.io import load_json
from biomatrix_plugin.tasks import entities
from biomatrix_plugin.tasks.converters import Context, ConverterSpec, Example, OtherSubtask, PrepareContext, field

LETTERS = ("A", "B", "C", "D")
CATEGORIES = ("Structure", "Source", "Property", "Usage")
_CATEGORY_NAMES = {**{c.lower(): c for c in CATEGORIES}, "application": "Usage"}
_OPTION_SPLIT = re.compile(r"\bOption\s+([A-D])\s*:", re.I)
_ANSWER_LETTER = re.compile(r"^\s*(?:Option\s+|\()?([A-D])\)?\s*[.:]?\s*$", re.I)
ID_FIELDS = ("qid", "id", "question_id")


def category_name(value: Any, where: str) -> str:
    if isinstance(value, list) and value:
        value = value[0]  # a taxonomy path: its first level is the category
    if not isinstance(value, str) or value.strip().lower() not in _CATEGORY_NAMES:
        raise RecordRejected(f"{where}: category {str(value)[:40]!r} is none of {', '.join(CATEGORIES)}")
    return _CATEGORY_NAMES[value.strip().lower()]


def _options(row: Mapping[str, Any], question: str) -> tuple[str, dict[str, str]]:
    """(the question without its option lines, letter -> option text)."""
    given = row.get("options")
    if given is not None:
        if isinstance(given, list) and len(given) == 4:
            options = dict(zip(LETTERS, given))
        elif isinstance(given, Mapping) and sorted(map(str, given)) == list(LETTERS):
            options = {str(k): v for k, v in given.items()}
        else:
            raise RecordRejected(f"options: expected four options (a list or A-D mapping), got {str(given)[:60]!r}")
        stem = question
    else:
        parts = _OPTION_SPLIT.split(question)  # [stem, "A", text, "B", text, ...]
        if len(parts) == 1:
            raise RecordRejected("question: no options ('Option A: ...') and no options field")
        stem = parts[0]
        letters = [p.upper() for p in parts[1::2]]
        options = dict(zip(letters, parts[2::2]))
        if letters != list(LETTERS):
            raise RecordRejected(f"question: options {', '.join(letters)} found, expected A, B, C, D in order")
    out = {}
    for letter in LETTERS:
        out[letter] = entities.text(options[letter], f"options[{letter}]") if isinstance(options[letter], str) \
            else _reject_type(f"options[{letter}]", options[letter])
    if len(set(out.values())) < 4:
        raise RecordRejected("options: two options have the same text")
    return " ".join(stem.split()), out


def _reject_type(where: str, value: Any):
    raise RecordRejected(f"{where}: expected text, got {type(value).__name__}")


def _answer(row: Mapping[str, Any], options: dict[str, str]) -> str:
    raw = field(row, "answer")
    if not isinstance(raw, str) or not raw.strip():
        raise RecordRejected(f"answer: expected a letter or an option's text, got {str(raw)[:40]!r}")
    m = _ANSWER_LETTER.match(raw)
    if m:
        return m.group(1).upper()
    text = " ".join(raw.split())
    matches = [k for k, v in options.items() if v.lower() == text.lower()]
    if len(matches) != 1:
        raise RecordRejected(f"answer: {text[:60]!r} is no option letter and matches {len(matches)} options")
    return matches[0]


def _smiles(row: Mapping[str, Any]) -> str:
    value = field(row, "smiles")
    if isinstance(value, list):
        if len(value) != 1:
            raise RecordRejected(f"smiles: {len(value)} molecules; a question is about one")
        value = value[0]
    return value


def _row_category(row: Mapping[str, Any], ctx: Context) -> str:
    if "category" in row:
        return category_name(row["category"], "category")
    by_id = ctx.prepared.get("qid2category") or {}
    for name in ID_FIELDS:
        if name in row:
            key = str(row[name])
            if key not in by_id:
                raise RecordRejected(f"{name}: {key!r} is not in qid2category.json (its category is unknown)")
            return by_id[key]
    raise RecordRejected(f"no category: the row has no category field and none of {', '.join(ID_FIELDS)}")


def convert_moleculeqa(row: Mapping[str, Any], ctx: Context) -> list[Example]:
    category = _row_category(row, ctx)
    wanted = ctx.options["category"]
    if category != wanted:
        raise OtherSubtask(f"category {category}, not this task's {wanted}")
    question = field(row, "question")
    if not isinstance(question, str) or not question.strip():
        raise RecordRejected("question: empty")
    mol = entities.molecule(_smiles(row), "smiles")
    stem, options = _options(row, question)
    stem = entities.text(stem, "question")
    answer = _answer(row, options)
    shown = stem + " " + " ".join(f"({k}) {v}" for k, v in options.items())
    raw_input = json.dumps({"smiles": mol.smiles, "question": shown}, ensure_ascii=False, sort_keys=True)
    return [Example({"molecule": mol, "question": shown}, answer, raw_input, answer)]


def prepare_moleculeqa(pc: PrepareContext) -> dict:
    """qid -> category from ``qid2category.json`` (only when the option names it and it exists: rows with
    their own ``category`` field need none)."""
    name = pc.options.get("categories_file")
    if not name:
        return {}
    path = pc.raw_root / name
    if not path.is_file():
        return {"qid2category": {}, "categories_file": f"{name} (absent)"}
    data = load_json(path)
    if not isinstance(data, Mapping):
        raise InputFileError(f"{path}: expected an object question id -> category")
    out = {}
    for key, value in data.items():
        try:
            out[str(key)] = category_name(value, f"{path.name}[{key}]")
        except RecordRejected as exc:
            raise InputFileError(str(exc)) from None
    return {"qid2category": out, "categories_file": name}


MOLECULEQA_OPTIONS = S.Spec(fields={
    "category": S.Enum(choices=CATEGORIES),
    "categories_file": S.Str(nonempty=True),  # relative to --raw
}, required=("category",), what="option of converter 'moleculeqa'")

CONVERTERS: dict[str, ConverterSpec] = {
    "moleculeqa": ConverterSpec(convert_moleculeqa, "json_array", MOLECULEQA_OPTIONS,
                                "MoleculeQA (hcaoaf/MoleculeQA) JSON/All/<split>.json multiple-choice rows",
                                prepare=prepare_moleculeqa),
}
