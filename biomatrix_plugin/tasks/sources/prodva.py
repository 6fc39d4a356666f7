"""ProDVa text-conditioned protein design (tech report Tables 23-24): CAMEO (function keywords) and
Molinst-SwissProtCLAP (textual descriptions).

ProDVa (github.com/sornkL/ProDVa, data HF ``nwliu/CAMEO`` and ``nwliu/Molinst-SwissProtCLAP``) trains on a JSON
list of ``{"instruction": <function text prompt>, "sequence": <designed protein>}`` per split (its loader
``dvadataset.py`` strips both fields); the fragment-mapping file and FAISS index it ships are only needed by
ProDVa's own retrieval and are not read. A record becomes one example: input = the function text (keywords
or numbered description), response = the protein sequence (``<|prot_aa_start|>...``).

Option ``function`` says how the function text is cut out of ProDVa's instruction, as PDFBench's two prompt
parsers do (the metrics' ``text`` option does the same on the evaluation side):

- ``keywords`` (CAMEO: "Generate a protein sequence for a novel protein that integrates the following function
  keywords: K1; K2. The designed protein sequence is "): the text after the first colon;
- ``description`` (Mol-Instructions / SwissProtCLAP: "... 1. ... 2. ..."): from "1." on;
- ``as_is``: the whole instruction (the suffix "The designed protein sequence is" is always dropped).

The prompt pool then asks for the design in BioMatrix's own words. A row whose function text is empty after
cutting, or whose sequence is not a protein, is a reject with the reason.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from biomatrix_plugin import schema as S
from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.tasks import entities
from biomatrix_plugin.tasks.converters import Context, ConverterSpec, Example, field

SUFFIX = "The designed protein sequence is"
FUNCTION_MODES = ("keywords", "description", "as_is")
_FIRST_ITEM = re.compile(r"(?<![0-9])1\.\s")


def function_text(instruction: str, mode: str) -> str:
    """The function part of a ProDVa instruction (PDFBench's parsers; see the module docstring)."""
    text = " ".join(instruction.split())
    if text.endswith(SUFFIX):
        text = text[: -len(SUFFIX)].rstrip()
    if mode == "keywords":
        if ":" not in text:
            raise RecordRejected(f"instruction: no ':' before the function keywords in {text[:80]!r}")
        return text.split(":", 1)[1].strip().rstrip(".").strip()
    if mode == "description":
        m = _FIRST_ITEM.search(text)
        if m is None:
            raise RecordRejected(f"instruction: no numbered requirement ('1. ...') in {text[:80]!r}")
        return text[m.start():].strip()
    return text


def convert_prodva(row: Mapping[str, Any], ctx: Context) -> list[Example]:
    """One element of a ProDVa split's JSON list: ``{"instruction", "sequence"}``."""
    instruction = field(row, ctx.options.get("instruction_field", "instruction"))
    if not isinstance(instruction, str) or not instruction.strip():
        raise RecordRejected("instruction: empty")
    function = entities.text(function_text(instruction, ctx.options.get("function", "as_is")), "instruction")
    design = entities.protein(field(row, ctx.options.get("sequence_field", "sequence")), "sequence")
    # grouping key: the function text; a prompt listed twice pools its designs as golds
    return [Example(function, design, function, design.sequence)]


PRODVA_OPTIONS = S.Spec(fields={
    "function": S.Enum(choices=FUNCTION_MODES),
    "instruction_field": S.Str(nonempty=True),
    "sequence_field": S.Str(nonempty=True),
}, what="option of converter 'prodva'")

CONVERTERS: dict[str, ConverterSpec] = {
    "prodva": ConverterSpec(convert_prodva, "json_array", PRODVA_OPTIONS,
                            "ProDVa {train,test}.json lists of {instruction, sequence} (nwliu/CAMEO, "
                            "nwliu/Molinst-SwissProtCLAP)"),
}
