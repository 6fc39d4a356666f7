"""JSON records whose container differs between the files of one dataset: a JSON array (or an object whose one
list value holds the records) or JSON Lines, told apart by the file's content, not its name.

OPI ships its train splits as ``.json`` arrays and its test splits as ``.jsonl`` lines, and one task reads both,
so one input format has to serve both: the ``json_array`` reader for an array, one record per line otherwise.
A line that is not JSON is one :class:`~biomatrix_plugin.corpus.records.BadRecord` (a reject with the reason);
the whole-file array is parsed at once (an array has no record boundary to resume at).
"""

from __future__ import annotations

import json
from typing import Any, Iterator

from biomatrix_plugin.corpus.records import BadRecord, _json_array_items, _jsonl_lines
from biomatrix_plugin.io import open_text


def container(path: str) -> str:
    """``array`` or ``lines``: an array opens with ``[``; a file whose first line is a whole JSON value is
    JSON Lines; anything else (a pretty-printed object holding the list) is read as an array file."""
    with open_text(path) as fh:
        for line in fh:
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith("["):
                return "array"
            try:
                json.loads(stripped)
            except json.JSONDecodeError:
                return "array"
            return "lines"
    return "lines"  # an empty file: no records either way


def iter_json_records(path: str) -> Iterator[Any]:
    """Every record of ``path``: the array's elements, or each non-blank line parsed (invalid JSON = BadRecord)."""
    if container(path) == "array":
        yield from _json_array_items(path)
        return
    for line in _jsonl_lines(path):
        if isinstance(line, BadRecord):
            yield line
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as exc:
            yield BadRecord(f"invalid JSON ({exc.msg} at column {exc.colno})")
