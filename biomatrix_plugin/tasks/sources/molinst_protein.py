"""Mol-Instructions, protein part (HF ``zjunlp/Mol-Instructions``, ``data/Protein-oriented_Instructions.zip``
unpacked: ``Protein-oriented_Instructions/<task>.json``, one JSON array per task).

A row is ``{"instruction", "input", "output", "metadata"}``: ``input`` holds the amino-acid sequence in a
fenced block (```` ```\\nMKV...\\n``` ````), ``output`` a templated sentence around the annotation (scored
whole by ROUGE), ``metadata.split`` train or test (there is no separate test file), ``metadata.task`` the
sub-task. Both raw splits read the same file: a row whose ``metadata.split`` is the other split is a reject
naming it, so every row is accounted for in exactly one split. The published question (``instruction``) is
not kept: the prompt pool replaces it; answers keep their line breaks.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from biomatrix_plugin import schema as S
from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.tasks import entities
from biomatrix_plugin.tasks.converters import Context, ConverterSpec, Example, OtherSubtask, field
from biomatrix_plugin.tasks.sources._free_text import free_text

TASKS = ("catalytic_activity", "domain_motif", "protein_function", "general_function")
_FENCE = re.compile(r"\A\s*```[A-Za-z]*[ \t]*\n?(.*?)\n?\s*```\s*\Z", re.S)


def unfence(value: Any, where: str) -> str:
    """The sequence inside a ``` fence (a bare sequence is taken as is; a fence opened and not closed is a
    reject)."""
    if not isinstance(value, str) or not value.strip():
        raise RecordRejected(f"{where}: empty protein field")
    m = _FENCE.match(value)
    if m:
        return m.group(1)
    if "```" in value:
        raise RecordRejected(f"{where}: unbalanced ``` fence in {value[:40]!r}")
    return value


def convert_molinst_protein(row: Mapping[str, Any], ctx: Context) -> list[Example]:
    meta = field(row, "metadata")
    if not isinstance(meta, Mapping):
        raise RecordRejected(f"metadata: {type(meta).__name__}, expected an object with split and task")
    task = meta.get("task")
    if task is not None and task != ctx.options["task"]:
        raise RecordRejected(f"metadata.task is {task!r}, expected {ctx.options['task']!r} (a row of another file?)")
    split = meta.get("split")
    if not isinstance(split, str) or not split.strip():
        raise RecordRejected("metadata.split: missing (Mol-Instructions marks each row train or test)")
    if split.strip() != ctx.split:
        raise OtherSubtask(f"metadata.split is {split.strip()!r}: the row belongs to that split, not to "
                           f"raw split {ctx.split!r}")
    protein = entities.read("protein", unfence(field(row, "input"), "input"), "input")
    answer = free_text(field(row, "output"), "output")
    # the grouping key of repeated test inputs: the sequence with the published question, so two questions
    # about one protein keep their own golds (ROUGE scores a row against its own sentence)
    key = json.dumps([protein.sequence, " ".join(str(row.get("instruction", "")).split())], ensure_ascii=False)
    return [Example(protein, answer, key, answer)]


OPTIONS = S.Spec(fields={"task": S.Enum(choices=TASKS)}, required=("task",),
                 what="option of converter 'molinst_protein'")

CONVERTERS: dict[str, ConverterSpec] = {
    "molinst_protein": ConverterSpec(
        convert_molinst_protein, "json_array", OPTIONS,
        "Mol-Instructions Protein-oriented_Instructions/<task>.json (split from metadata.split)",
        routes_splits=True),
}
