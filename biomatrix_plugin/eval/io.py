"""Reading prediction / reference files: one item per line, or JSON Lines.

- ``*.jsonl`` / ``*.json``: every non-blank line is one JSON value (a ``.json`` file holding one JSON
  array is read as that array). An object contributes its ``field``
  (default: the first of ``prediction``, ``output``, ``reference``, ``answer``, ``value``, ``smiles``,
  ``text`` that it has, or the whole object with ``field="*"``); a list stays a list (several labels,
  several samples, coordinates).
- anything else: every line is one item (text), the trailing newline (``\\n`` or ``\\r\\n``) removed. Empty
  lines are kept as empty predictions (scored as invalid), since dropping them would shift every later line.

Files are read through :mod:`biomatrix_plugin.io`: ``*.gz`` is decompressed, and a missing, unreadable,
truncated or non-UTF-8 file is one error naming the file (and line).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from biomatrix_plugin.eval.spec import EvalInputError
from biomatrix_plugin.io import BadLine, iter_jsonl, iter_lines, open_text

DEFAULT_FIELDS = ("prediction", "output", "reference", "answer", "value", "smiles", "text")
JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")


def json_records(path: str | Path, error: type[Exception] = EvalInputError) -> Iterator[tuple[int, Any]]:
    """(line number, JSON value) for every non-blank line; a line that is not UTF-8 or not JSON raises ``error``
    naming the file and line (a prediction file with a broken line is a pipeline bug, not a reject)."""
    for number, value, problem in iter_jsonl(path):
        if problem:
            raise error(f"{path}:{number}: {problem}")
        yield number, value


def _format_suffix(path: Path) -> str:
    """``.jsonl`` for ``x.jsonl`` and ``x.jsonl.gz`` alike (io.open_text decompresses)."""
    name = path.name.lower().removesuffix(".gz")
    return Path(name).suffix


def _text_items(path: Path) -> list[str]:
    items = []
    for number, line in iter_lines(path):
        if isinstance(line, BadLine):
            raise EvalInputError(f"{path}:{number}: {line.reason}")
        items.append(line.rstrip("\n").rstrip("\r"))
    return items


def _is_json_array(path: Path) -> bool:
    """Whether the file's first non-blank character opens a JSON array (a whole-file ``.json`` list)."""
    with open_text(path) as fh:
        while chunk := fh.read(1 << 16):
            stripped = chunk.lstrip()
            if stripped:
                return stripped.startswith("[")
    return False


def _json_array_items(path: Path, field: str | None) -> list[Any]:
    with open_text(path) as fh:
        text = fh.read()
    try:
        whole = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EvalInputError(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from None
    return [_pick_field(v, field, f"{path}[{i}]") if isinstance(v, dict) else v for i, v in enumerate(whole)]


def read_items(path: str | Path, field: str | None = None) -> list[Any]:
    """The items of a prediction / reference file (see the module docstring); errors name the file (and line)."""
    path = Path(path)
    if path.is_dir():  # io would say the same; said here first so the message says what was expected
        raise EvalInputError(f"{path}: is a directory, expected a file with one item per line")
    suffix = _format_suffix(path)
    if suffix not in JSON_SUFFIXES:
        return _text_items(path)
    if suffix == ".json" and _is_json_array(path):
        items = _json_array_items(path, field)
    else:
        items = [_pick_field(v, field, f"{path}:{n}") if isinstance(v, dict) else v for n, v in json_records(path)]
    _check_uniform(items, path)
    return items


def _pick_field(obj: dict, field: str | None, where: str) -> Any:
    if field == "*":  # structured references (editing, optimisation tasks) are read whole
        return obj
    if field is not None:
        if field not in obj:
            raise EvalInputError(f"{where}: object has no field {field!r} (fields: {', '.join(obj)})")
        return obj[field]
    for name in DEFAULT_FIELDS:
        if name in obj:
            return obj[name]
    raise EvalInputError(
        f"{where}: object has none of the fields {', '.join(DEFAULT_FIELDS)}; name one with --field"
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def _check_uniform(items: list[Any], path: Path) -> None:
    """Reject files mixing e.g. strings and lists: such a file is almost always a pipeline bug.
    Numbers mixed with strings or nulls are allowed: model output may be text where a number was due,
    and numeric metrics count those as unparseable."""
    kinds = {_kind(v) for v in items}
    structural = kinds & {"list", "object", "bool"}
    if structural and len(kinds - {"null"}) > 1:
        first = {k: next(i for i, v in enumerate(items, 1) if _kind(v) == k) for k in sorted(kinds)}
        desc = ", ".join(f"{k} (first at item {i})" for k, i in first.items())
        raise EvalInputError(f"{path}: mixed item types: {desc}")


def parse_option_pairs(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise EvalInputError(f"--option {pair!r}: expected key=value")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out
