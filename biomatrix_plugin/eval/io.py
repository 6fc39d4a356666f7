"""Reading prediction / reference files: one item per line, or JSON Lines.

- ``*.jsonl`` / ``*.json``: every non-blank line is one JSON value (a ``.json`` file holding one JSON
  array is read as that array). An object contributes its ``field``
  (default: the first of ``prediction``, ``output``, ``reference``, ``answer``, ``value``, ``smiles``,
  ``text`` that it has, or the whole object with ``field="*"``); a list stays a list (several labels,
  several samples, coordinates).
- anything else: every line is one item (text), trailing newline characters removed. Empty lines are kept
  as empty predictions (scored as invalid), since dropping them would shift every later line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from biomatrix_plugin.eval.registry import EvalInputError

DEFAULT_FIELDS = ("prediction", "output", "reference", "answer", "value", "smiles", "text")
JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")


def iter_json_lines(lines: list[str], where: Path | str, error: type[Exception] = EvalInputError):
    """(line number, JSON value) for every non-blank line; a bad line raises ``error`` naming file and line."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{where}:{number}: not valid JSON ({exc.msg})") from exc


def read_items(path: str | Path, field: str | None = None) -> list[Any]:
    path = Path(path)
    if not path.exists():
        raise EvalInputError(f"{path}: file not found")
    if path.is_dir():
        raise EvalInputError(f"{path}: is a directory, expected a file with one item per line")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise EvalInputError(f"{path}: not UTF-8 text ({exc})") from exc
    lines = text.splitlines()
    if path.suffix.lower() not in JSON_SUFFIXES:
        return lines
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        # a whole-file JSON array (e.g. pretty-printed) rather than JSON Lines
        try:
            whole = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EvalInputError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
        items = [_pick_field(v, field, f"{path}[{i}]") if isinstance(v, dict) else v for i, v in enumerate(whole)]
        _check_uniform(items, path)
        return items
    items: list[Any] = []
    for number, value in iter_json_lines(lines, path):
        if isinstance(value, dict):
            value = _pick_field(value, field, f"{path}:{number}")
        items.append(value)
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
