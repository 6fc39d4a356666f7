"""An example -> the rows of one notation variant: the prompt from the task's pool, the input and the answer
written as the task file says (labels verbalised, numbers at the task's precision, molecules wrapped in the
variant's notation).

Training rows draw their template uniformly from the pool with the record's own random stream (seeded by
the record's key, so the choice does not depend on the worker count); the test split uses the first
template unless ``prompt_sampling="sampled"``. Both variants of one example share the draw.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, Mapping

from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.tasks.converters import Example
from biomatrix_plugin.tasks.entities import DEFAULT_LABEL_SEP, Mol3D, Molecule, Protein, Structure

_WRAPPED = (Molecule, Protein, Structure, Mol3D)

NOTATION_NAMES = {"smiles": "SMILES", "selfies": "SELFIES", "default": ""}
PROMPT_SAMPLING = ("first", "sampled")


@dataclass(frozen=True)
class RenderSpec:
    """The parts of a task file rendering needs (plain data: it travels to build workers)."""

    task_id: str
    prompts: tuple[str, ...]
    response: Mapping[str, Any]
    variants: tuple[str, ...]

    @classmethod
    def from_task_data(cls, task_id: str, data: Mapping[str, Any]) -> "RenderSpec":
        return cls(task_id, tuple(data["prompts"]), dict(data["response"]), tuple(data["variants"]))


def choose_prompt(spec: RenderSpec, rng: random.Random, split: str, prompt_sampling: str) -> int:
    """Index of the template for one example (draws from ``rng`` only when it samples)."""
    if split == "test" and prompt_sampling == "first":
        return 0
    return rng.randrange(len(spec.prompts))


def _entity(value: Any, variant: str, vocabulary, sep: str = DEFAULT_LABEL_SEP) -> str:
    if isinstance(value, _WRAPPED):
        return value.wrapped(variant, vocabulary)
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple):  # a label set
        return sep.join(value)
    return str(value)


def answer_text(spec: RenderSpec, value: Any, raw: Any, variant: str, vocabulary) -> str:
    """The response as written in the training row (and as the gold of a test row)."""
    response = spec.response
    kind = response["kind"]
    if isinstance(value, _WRAPPED):
        answer = value.wrapped(variant, vocabulary)
    elif kind == "label_set":
        answer = response.get("sep", DEFAULT_LABEL_SEP).join(value)
    elif kind == "label":
        answer = response["labels"][value]
    elif kind == "number":
        answer = f"{value:.{response['precision']}f}" if "precision" in response else str(raw).strip()
    else:
        answer = str(value)
    template = response.get("template", "{answer}")
    return template.format(answer=answer, unit=response.get("unit", ""))


def materialize(value: Any, variant: str) -> Any:
    """A converter's reference object with its entities written in the variant's notation (JSON-able)."""
    if isinstance(value, _WRAPPED):
        return value.payload(variant)
    if isinstance(value, dict):
        return {str(k): materialize(v, variant) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [materialize(v, variant) for v in value]
    return value


def reference(spec: RenderSpec, value: Any, variant: str) -> Any:
    """What a metric compares the read-out prediction with: the molecule in the variant's notation, the
    verbalised label, the number, the text."""
    kind = spec.response["kind"]
    if isinstance(value, _WRAPPED):
        return value.payload(variant)
    if kind == "label":
        return spec.response["labels"][value]
    if kind == "label_set":
        return spec.response.get("sep", DEFAULT_LABEL_SEP).join(value)
    return value


def render(spec: RenderSpec, example: Example, variant: str, template_index: int, split: str,
           vocabulary=None) -> dict:
    """One row: alpaca ``instruction``/``input``/``output`` plus the raw entities (train), or the prompt, the
    gold answer and the grouping key (test; :func:`biomatrix_plugin.tasks.build` pools the golds)."""
    template = spec.prompts[template_index]
    fields = {"notation": NOTATION_NAMES[variant], "target": example.target or ""}
    if isinstance(example.input, dict):  # input.fields: every template names every field (schema rule)
        fields.update({name: _entity(v, variant, vocabulary) for name, v in example.input.items()})
        query = ""
    else:
        entity = _entity(example.input, variant, vocabulary)
        fields["input"] = entity
        query = "" if "{input}" in template or example.input is None else entity
    try:
        instruction = template.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:  # the schema checks placeholders; this is a guard
        raise RecordRejected(f"prompt template {template_index}: {exc}") from None
    row: dict[str, Any] = {"instruction": instruction, "input": query}
    if split == "test":
        row["prompt"] = instruction if not query else f"{instruction}\n{query}"
        row["reference"] = (materialize(example.reference, variant) if example.reference is not None
                            else reference(spec, example.output, variant))
        row["answer"] = ("" if example.output is None
                         else answer_text(spec, example.output, example.raw_output, variant, vocabulary))
    else:
        if example.output is None:
            raise RecordRejected("a training row needs an answer (the converter gave none)")
        row["output"] = answer_text(spec, example.output, example.raw_output, variant, vocabulary)
    row["raw_input"] = example.raw_input
    # always a string: LLaMA-Factory's JSON loader needs one type per column, and SMolInstruct writes a label
    # as "Yes" in one row and true in another; a non-string raw value is kept JSON-encoded
    raw = example.raw_output
    row["raw_output"] = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, sort_keys=True)
    if example.target is not None:
        row["target"] = example.target
    row["template"] = template_index
    return row
