"""MegaScience (HF ``MegaScience/MegaScience``): parquet rows ``question, answer, subject, reference_answer``
(``answer`` the distilled chain of thought, else the refined answer; GAIR-NLP/MegaScience
``data_process/finalize_data.py``). Training only: the merged model sees it, no benchmark scores it.

The question is the instruction's content (the prompt pool only frames it), the answer is kept with its line
breaks (a worked solution, often with LaTeX). ``subject`` and ``reference_answer`` are checked when present
but not written: they are not part of the instruction row. Columns the HF parquet may add (a ``source``) are
ignored; a missing ``question`` or ``answer`` is a reject naming the columns the row has.
"""

from __future__ import annotations

from typing import Any, Mapping

from biomatrix_plugin import schema as S
from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.tasks.converters import Context, ConverterSpec, Example, field
from biomatrix_plugin.tasks.sources._free_text import free_text


def convert_megascience(row: Mapping[str, Any], ctx: Context) -> list[Example]:
    question = free_text(field(row, "question"), "question")
    answer = free_text(field(row, "answer"), "answer")
    subject = row.get("subject")
    if subject is not None and not isinstance(subject, str):
        raise RecordRejected(f"subject: {type(subject).__name__}, expected a string")
    return [Example(question, answer, question, answer)]


OPTIONS = S.Spec(fields={}, what="option of converter 'megascience'")

CONVERTERS: dict[str, ConverterSpec] = {
    "megascience": ConverterSpec(convert_megascience, "parquet", OPTIONS,
                                 "MegaScience parquet (question, answer, subject, reference_answer)"),
}
