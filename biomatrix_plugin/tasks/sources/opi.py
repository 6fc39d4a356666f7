"""OPI, Open Protein Instructions (HF ``BAAI/OPI``, ``OPI_DATA/{SU,AP,KM}/<task>/{train,test}/``).

Train files are one JSON array of ``{"instruction", "input", "output"}``; test files are JSON Lines, either flat
rows of the same fields or OPI's "seed task" form ``{"id", "name", "instruction", "instances": [{"input",
"output"}], "is_classification"}`` (one example per instance). Both containers are read by the ``json_records``
input format (:mod:`biomatrix_plugin.corpus.json_records`). The published instruction is not kept: the task
file's prompt pool replaces it.

Answers, by the task's ``response.kind``:

- ``label_set`` (EC numbers, GO terms, keywords, cancers, tissues): split on ``;`` only (OPI writes ``" ; "``
  or ``"; "``; GO names contain commas, so a comma never separates);
- ``text`` (function descriptions, the subcellular location phrase, the fold class): whitespace-normalised;
  with the option ``class_index`` the answer must be a non-negative integer no larger than ``max_class``
  (fold type: "0".."1194").

Fold type (:func:`prepare_fold`): OPI publishes one test file for the three remote-homology holdouts and
scores each by matching the test ``input`` against the ``primary`` sequences of the TAPE files
``remote_homology_test_{fold,superfamily,family}_holdout.json``. ``prepare`` loads all three, so a test row is
kept by the task of its own holdout and is a reject naming the other holdout's task elsewhere (never dropped
without a reason).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Mapping

from biomatrix_plugin import schema as S
from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.errors import InputFileError
from biomatrix_plugin.io import load_json
from biomatrix_plugin.modalities.serialization import SerializationError, normalize_protein
from biomatrix_plugin.tasks import entities
from biomatrix_plugin.tasks.converters import Context, ConverterSpec, Example, PrepareContext, field

INPUT_FORMAT = "json_records"  # JSON array (train) or JSON Lines (test), told apart by content
HOLDOUTS = ("fold", "superfamily", "family")
DEFAULT_HOLDOUT_FILES = "opi/compute_scores/remote_homology_test_{holdout}_holdout.json"
_INDEX = re.compile(r"\d+")


def instances(row: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(where, input, output) of each example of a flat row or a seed-task row."""
    if "instances" not in row:
        return [("", field(row, "input"), field(row, "output"))]
    items = row["instances"]
    if not isinstance(items, list) or not items:
        raise RecordRejected("instances: expected a non-empty list of {input, output}")
    out = []
    for i, item in enumerate(items):
        where = f"instances[{i}]."
        if not isinstance(item, Mapping):
            raise RecordRejected(f"instances[{i}]: {type(item).__name__}, expected an object")
        out.append((where, field(item, "input", f"{where}input"), field(item, "output", f"{where}output")))
    return out


def _answer(value: Any, where: str, ctx: Context) -> Any:
    kind = ctx.output_kind
    if kind == "label_set":
        return entities.read("label_set", value, where, sep=ctx.response.get("sep", entities.DEFAULT_LABEL_SEP))
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a class index written as a JSON number
    answer = entities.read(kind, value, where, ctx.labels)
    if ctx.options.get("class_index"):
        if not _INDEX.fullmatch(answer):
            raise RecordRejected(f"{where}: {answer[:40]!r} is not a class index (a non-negative integer)")
        top = ctx.options.get("max_class")
        if top is not None and int(answer) > top:
            raise RecordRejected(f"{where}: class index {answer} is above the last class {top}")
        answer = str(int(answer))
    return answer


def _key(example_input: Any) -> str:
    return example_input.sequence if isinstance(example_input, entities.Protein) else str(example_input)


def convert_opi(row: Mapping[str, Any], ctx: Context) -> list[Example]:
    """One OPI row (flat or seed task) -> one example per instance; the input is a protein sequence (SU, AP)
    or a gene name/symbol (KM, ``input.kind: text``)."""
    out = []
    holdout = ctx.prepared.get("holdout")
    for where, raw_in, raw_out in instances(row):
        value_in = entities.read(ctx.input_kind, raw_in, f"{where}input")
        if holdout is not None and ctx.split == ctx.prepared["test_split"]:
            _check_holdout(value_in.sequence, f"{where}input", ctx)
        value_out = _answer(raw_out, f"{where}output", ctx)
        raw_output = raw_out if isinstance(raw_out, str) else json.dumps(raw_out, ensure_ascii=False)
        out.append(Example(value_in, value_out, _key(value_in), raw_output))
    return out


# ---------------------------------------------------------------- fold type: the TAPE holdouts

def sequence_digest(sequence: str) -> str:
    """A short stable key of a normalised sequence (the prepared table travels to every worker and into the
    build fingerprint: 3,244 digests instead of the sequences)."""
    return hashlib.blake2b(sequence.encode("ascii"), digest_size=10).hexdigest()


def _holdout_sequences(path: Path) -> list[str]:
    """The ``primary`` sequences of one TAPE holdout JSON file (a JSON array of records; ``primary`` a string
    or a list of one-letter residues)."""
    data = load_json(path)
    if not isinstance(data, list):
        raise InputFileError(f"{path}: expected a JSON array of TAPE records, got {type(data).__name__}")
    out = []
    for i, item in enumerate(data):
        primary = item.get("primary") if isinstance(item, Mapping) else None
        if isinstance(primary, list):
            primary = "".join(map(str, primary))
        try:
            out.append(normalize_protein(primary))
        except SerializationError as exc:
            raise InputFileError(f"{path}: record {i}: primary: {exc}") from None
    return out


def prepare_fold(pc: PrepareContext) -> dict:
    """Digest -> holdout name for the three TAPE holdout files (missing file = an error naming where it is
    expected), plus this task's holdout and the raw split it filters."""
    pattern = pc.options.get("holdout_files", DEFAULT_HOLDOUT_FILES)
    members: dict[str, str] = {}
    counts: dict[str, int] = {}
    files: dict[str, str] = {}
    for name in HOLDOUTS:
        path = pc.raw_root / pattern.format(holdout=name)
        if not path.is_file():
            raise InputFileError(
                f"task {pc.task_id}: TAPE holdout file {path} not found; OPI scores fold type by matching its "
                f"test inputs against remote_homology_test_{{fold,superfamily,family}}_holdout.json (TAPE "
                f"remote homology, JSON; shipped in OPI's GitHub compute_scores/). Put them there or set "
                f"source.options.holdout_files")
        sequences = _holdout_sequences(path)
        counts[name] = len(sequences)
        files[name] = str(path.relative_to(pc.raw_root))
        for seq in sequences:
            members.setdefault(sequence_digest(seq), name)  # a sequence in two holdouts counts for the first
    return {"holdout": pc.options["holdout"], "test_split": pc.task["splits"]["test"], "members": members,
            "holdout_sizes": counts, "holdout_files": files}


def _check_holdout(sequence: str, where: str, ctx: Context) -> None:
    mine = ctx.prepared["holdout"]
    found = ctx.prepared["members"].get(sequence_digest(sequence))
    if found is None:
        raise RecordRejected(f"{where}: sequence is in none of the TAPE holdout sets ({', '.join(HOLDOUTS)})")
    if found != mine:
        raise RecordRejected(f"{where}: sequence is in the TAPE {found} holdout (task opi_fold_{found}), "
                             f"not the {mine} holdout")


OPI_OPTIONS = S.Spec(fields={
    "class_index": S.Bool(),  # the answer is a class index (fold type)
    "max_class": S.Int(min=0),  # the last class index (fold type: 1194)
}, what="option of converter 'opi'")

OPI_FOLD_OPTIONS = S.Spec(fields={
    "holdout": S.Enum(choices=HOLDOUTS),
    "holdout_files": S.Str(nonempty=True),  # under --raw, with {holdout}
    "class_index": S.Bool(),
    "max_class": S.Int(min=0),
}, required=("holdout",), what="option of converter 'opi_fold'")

CONVERTERS: dict[str, ConverterSpec] = {
    "opi": ConverterSpec(convert_opi, INPUT_FORMAT, OPI_OPTIONS,
                         "OPI (BAAI/OPI) OPI_DATA train JSON arrays / test JSONL (flat or seed-task instances)"),
    "opi_fold": ConverterSpec(convert_opi, INPUT_FORMAT, OPI_FOLD_OPTIONS,
                              "OPI fold type: one test file split into the TAPE fold/superfamily/family holdouts",
                              prepare=prepare_fold),
}
