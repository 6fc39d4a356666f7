"""SMolInstruct (osunlp/SMolInstruct): the 14 sub-tasks' ``raw/<split>/<task>.jsonl`` files of its data.zip."""

from __future__ import annotations

import re
from typing import Any, Mapping

from biomatrix_plugin import schema as S
from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.tasks import entities
from biomatrix_plugin.tasks.converters import Context, ConverterSpec, Example, field

# SMolInstruct's core tags (LLM4Chem TASK_TAGS): the raw files should hold untagged values, but v1.1.0 shipped
# doubled <SMILES> tags in retrosynthesis and the templates wrap every value, so any tag left is stripped
_TAG_NAMES = ("SMILES", "SELFIES", "IUPAC", "MOLFORMULA", "NUMBER", "BOOLEAN")
_TAG_PAIR = re.compile(r"<(%s)>\s*(.*?)\s*</\1>" % "|".join(_TAG_NAMES), re.S)
_ANY_TAG = re.compile(r"</?(%s)>" % "|".join(_TAG_NAMES))


def strip_core_tags(value: str, where: str) -> str:
    """``<SMILES> CCO </SMILES>`` -> ``CCO`` (nested/doubled pairs too); an unpaired tag is a reject."""
    previous = None
    while previous != value:
        previous, value = value, _TAG_PAIR.sub(lambda m: m.group(2), value)
    stray = _ANY_TAG.search(value)
    if stray:
        raise RecordRejected(f"{where}: unpaired SMolInstruct tag {stray.group(0)} in {value[:60]!r}")
    return value.strip()


def _value(kind: str, raw: Any, where: str, labels) -> tuple[Any, Any]:
    """(checked value, raw value as written after tag stripping)."""
    if isinstance(raw, str):
        raw = strip_core_tags(raw, where)
    return entities.read(kind, raw, where, labels), raw


def convert_smolinstruct(row: Mapping[str, Any], ctx: Context) -> list[Example]:
    """A line of ``raw/<split>/<task>.jsonl``: ``{"input", "output", "task", "split"}``; ``output`` is a
    string, or a mapping target -> value for the multi-target tasks (one example per target, sorted)."""
    expected = ctx.options["task"]
    for name, want in (("task", expected), ("split", ctx.split)):
        got = row.get(name)
        if got is not None and got != want:
            raise RecordRejected(f"{name} is {got!r}, expected {want!r} (a row of another file?)")
    value_in, raw_in = _value(ctx.input_kind, field(row, "input", "input"), "input", None)
    raw_in_key = value_in.smiles if isinstance(value_in, entities.Molecule) else str(raw_in)
    out = field(row, "output", "output")
    if isinstance(out, Mapping):
        if not out:
            raise RecordRejected("output: empty target mapping")
        items = sorted((str(k), v) for k, v in out.items())
    else:
        items = [(None, out)]
    examples = []
    for target, raw_value in items:
        where = "output" if target is None else f"output[{target!r}]"
        if target is not None and not target.strip():
            raise RecordRejected(f"{where}: empty target name")
        value_out, raw_out = _value(ctx.output_kind, raw_value, where, ctx.labels)
        if isinstance(value_out, entities.Molecule):
            raw_out = value_out.smiles
        examples.append(Example(value_in, value_out, raw_in_key, raw_out, target))
    return examples


SMOLINSTRUCT_OPTIONS = S.Spec(fields={
    "task": S.Enum(choices=(
        "forward_synthesis", "retrosynthesis", "molecule_captioning", "molecule_generation",
        "name_conversion-i2f", "name_conversion-i2s", "name_conversion-s2f", "name_conversion-s2i",
        "property_prediction-esol", "property_prediction-lipo", "property_prediction-bbbp",
        "property_prediction-clintox", "property_prediction-hiv", "property_prediction-sider")),
}, required=("task",), what="option of converter 'smolinstruct'")

CONVERTERS: dict[str, ConverterSpec] = {
    "smolinstruct": ConverterSpec(convert_smolinstruct, "jsonl", SMOLINSTRUCT_OPTIONS,
                                  "SMolInstruct data.zip raw/<split>/<task>.jsonl (osunlp/SMolInstruct)"),
}
