"""Streaming readers: raw input files -> a sequence of records, one at a time.

A reader never loads a whole file. It yields *raw* records (the text block of one SDF entry, one FASTA
entry, one UniProt entry, one CSV/TSV row as a dict, one JSON line as a string) so that a shard can skip
the records it does not own cheaply; parsing the record into fields happens in :func:`parse_record`,
whose failures become rejects with a reason instead of crashing the run.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from biomatrix_plugin.errors import BioMatrixError, ConfigError, InputFileError
from biomatrix_plugin.io import BadLine, iter_lines, load_json


class RecordRejected(BioMatrixError, ValueError):
    """A record cannot become an instance; ``str(exc)`` is the reason written to the rejects file."""


class InputPatternError(ConfigError, FileNotFoundError):
    """A card's input.path pattern matches no file (a typo or a missing download, never silently nothing)."""


def free_text(text: Any, where: str) -> str:
    """``text`` if it may go into a training row as free text, else a reject naming ``where`` (one rule
    for every builder: no modality control token inside free text)."""
    from biomatrix_plugin.modalities.serialization import SerializationError, check_free_text

    try:
        return check_free_text(text, where)
    except SerializationError as exc:
        raise RecordRejected(str(exc)) from None


@dataclass(frozen=True)
class RawRecord:
    source: str  # file the record came from
    position: int  # 0-based record number inside that file
    raw: Any  # str for text formats, dict for csv/tsv/parquet rows, BadRecord for an undecodable one

    @property
    def where(self) -> str:
        return f"{os.path.basename(self.source)}#{self.position}"


@dataclass(frozen=True)
class BadRecord:
    """What a reader yields for a record it could not decode (a non-UTF-8 line): parsing it is a reject
    with ``reason``, so one bad line costs one record and the build goes on."""

    reason: str


def source_key(path: str, root: str | Path | None) -> str:
    """How an input file is named in rejects, manifests and record seeds: its path relative to the data
    root (``afdb/shard_07/vq_indices.csv``), so same-named files in different folders stay apart while the
    name does not depend on where the root is mounted; the base name for a file outside the root."""
    name = os.path.basename(path)
    if root is None:
        return name
    full, base = os.path.abspath(path), os.path.abspath(str(root))
    try:
        if os.path.commonpath([full, base]) != base:
            return name
    except ValueError:  # different drives
        return name
    return Path(os.path.relpath(full, base)).as_posix()


def resolve_inputs(pattern: str | list[str], root: str | Path | None = None, where: str = "input.path") -> list[str]:
    """Expand a path pattern (or list of them) relative to ``root``; sorted so record order is stable.
    A pattern that matches no file is an :class:`InputPatternError` naming it (``where``: the card)."""
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    files: list[str] = []
    unmatched: list[str] = []
    for pat in patterns:
        full = os.path.expandvars(os.path.expanduser(pat))
        if root is not None and not os.path.isabs(full):
            full = os.path.join(str(root), full)
        found = sorted(p for p in glob.glob(full, recursive=True) if os.path.isfile(p))
        if not found:
            unmatched.append(pat)
        files.extend(found)
    if unmatched:
        under = f" under {root}" if root is not None else ""
        raise InputPatternError("\n".join(f"{where}: input.path pattern {pat!r} matches no file{under}"
                                           for pat in unmatched))
    return files


# ---------------------------------------------------------------- readers (through biomatrix_plugin.io)

def _bad(number: int, line: BadLine) -> str:
    return f"line {number}: {line.reason}"


def _line_blocks(path: str, terminator: str) -> Iterator[str | BadRecord]:
    """Text blocks ending with a line equal to ``terminator`` (SDF ``$$$$``, UniProt ``//``); a block
    holding a non-UTF-8 line is a BadRecord. A trailing block without terminator is still yielded so
    that a truncated file produces a reject (with the parser's reason) instead of vanishing."""
    buf: list[str] = []
    bad: str | None = None
    for number, line in iter_lines(path):
        if isinstance(line, BadLine):
            bad = bad or _bad(number, line)
            continue
        buf.append(line)
        if line.rstrip("\r\n") == terminator:
            yield BadRecord(bad) if bad else "".join(buf)
            buf, bad = [], None
    if bad:
        yield BadRecord(bad)
    elif any(part.strip() for part in buf):
        yield "".join(buf)


def _fasta_entries(path: str) -> Iterator[str | BadRecord]:
    buf: list[str] = []
    bad: str | None = None
    for number, line in iter_lines(path):
        starts = line.raw.startswith(b">") if isinstance(line, BadLine) else line.startswith(">")
        if starts and (buf or bad):
            yield BadRecord(bad) if bad else "".join(buf)
            buf, bad = [], None
        if isinstance(line, BadLine):
            bad = bad or _bad(number, line)
        elif line.strip() or buf:
            buf.append(line)
    if bad:
        yield BadRecord(bad)
    elif buf:
        yield "".join(buf)


class _Lines:
    """The decoded lines of a file for csv.reader; a non-UTF-8 line is passed on as a blank line and
    remembered, so the row it falls in becomes a BadRecord."""

    def __init__(self, path: str):
        self._it = iter_lines(path)
        self.bad: str | None = None

    def __iter__(self):
        return self

    def __next__(self) -> str:
        number, line = next(self._it)
        if isinstance(line, BadLine):
            self.bad = self.bad or _bad(number, line)
            return "\n"
        return line


def _csv_rows(path: str, delimiter: str) -> Iterator[dict | BadRecord]:
    """csv.DictReader's rows (surplus cells under key None, missing ones None, blank lines skipped)."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    lines = _Lines(path)
    reader = csv.reader(lines, delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return
    if lines.bad:
        raise InputFileError(f"{path}: the header is not UTF-8 text ({lines.bad})")
    n = len(header)
    for row in reader:
        if lines.bad:
            bad, lines.bad = lines.bad, None
            yield BadRecord(bad)
            continue
        if row == []:
            continue
        record: dict = dict(zip(header, row))
        if len(row) > n:
            record[None] = row[n:]
        else:
            for key in header[len(row):]:
                record[key] = None
        yield record


SMI_DEFAULT_COLUMNS = ("smiles", "name")


def _smi_rows(path: str) -> Iterator[dict | BadRecord]:
    """SMILES files (ZINC20 tranches, RDKit/NCI .smi): whitespace-separated columns, SMILES first.

    A first line whose first cell is ``smiles`` (any case) is the header (ZINC20's ``smiles zinc_id``);
    without one the columns are ``smiles name``. The last column takes the rest of the line, since
    compound names may contain spaces; a line with fewer cells than the header keeps them as missing."""
    columns: tuple[str, ...] | None = None
    for number, line in iter_lines(path):
        if isinstance(line, BadLine):
            yield BadRecord(_bad(number, line))
            continue
        cells = line.split()
        if not cells:
            continue
        if columns is None:
            if cells[0].lower() == "smiles":
                columns = tuple(c if c.lower() != "smiles" else "smiles" for c in cells)
                continue
            columns = SMI_DEFAULT_COLUMNS
        values = line.strip().split(None, len(columns) - 1)
        yield {name: (values[i] if i < len(values) else None) for i, name in enumerate(columns)}


def _text_lines(path: str, skip: Callable[[str], bool]) -> Iterator[str | BadRecord]:
    for number, line in iter_lines(path):
        if isinstance(line, BadLine):
            yield BadRecord(_bad(number, line))
        elif not skip(line):
            yield line


def _jsonl_lines(path: str) -> Iterator[str | BadRecord]:
    return _text_lines(path, lambda line: not line.strip())


def _types_lines(path: str) -> Iterator[str | BadRecord]:
    """gnina/CrossDocked ``.types`` index lines; blank lines and whole-line ``#`` comments are not records."""
    return _text_lines(path, lambda line: not line.strip() or line.strip().startswith("#"))


def _parquet_rows(path: str, batch_size: int = 1024) -> Iterator[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 0
    try:
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=batch_size):
            for row in batch.to_pylist():
                yield row
                rows += 1
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except (pa.ArrowException, OSError) as exc:  # ArrowInvalid: bad magic, truncated footer, corrupt page
        where = f" after {rows:,} rows" if rows else ""
        raise InputFileError(f"{path}: not a readable parquet file{where} ({exc})") from None


def _structure_file(path: str) -> Iterator[str]:
    return iter([path])  # one structure file (PDB/mmCIF, e.g. a PPIRef pair) is one record


def _json_array_items(path: str) -> Iterator[Any]:
    """A file holding one JSON array of records (OPI, Mol-Instructions), or an object whose only list
    value holds them ({"data": [...]}); each element is one record (position = its index). The whole file is
    parsed at once: JSON arrays have no record boundaries a stream reader could resume at."""
    data = load_json(path)
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise InputFileError(f"{path}: a JSON object must hold exactly one list of records, found "
                                 f"{len(lists)} (keys: {', '.join(map(str, data))})")
        data = lists[0]
    if not isinstance(data, list):
        raise InputFileError(f"{path}: expected a JSON array of records, got {type(data).__name__}")
    return iter(data)


def _json_object(item: Any, options: dict) -> dict:
    if not isinstance(item, dict):
        raise RecordRejected(f"array element is a {type(item).__name__}, expected an object")
    return item


def _named_reader(target: str) -> Callable[[str], Iterator[Any]]:
    """A reader that lives in its own module, loaded by name on first use ("module:function")."""

    def read(path: str) -> Iterator[Any]:
        import importlib

        module, _, name = target.partition(":")
        return getattr(importlib.import_module(module), name)(path)

    return read


# ---------------------------------------------------------------- parsing raw records into fields

def parse_sdf_block(block: str) -> dict:
    """One SDF entry -> ``{"molblock": ..., "props": {name: value}}`` (values as text)."""
    head, sep, tail = block.partition("M  END")
    if not sep:
        raise RecordRejected("SDF entry has no 'M  END' line (truncated or not a molfile)")
    molblock = head + "M  END\n"
    props: dict[str, str] = {}
    name: str | None = None
    values: list[str] = []
    for line in tail.splitlines():
        if line.startswith(">"):
            if name is not None:
                props[name] = "\n".join(values).strip()
            lt, gt = line.find("<"), line.find(">", line.find("<") + 1)
            if lt < 0 or gt < 0:
                raise RecordRejected(f"SDF property header {line!r} has no <NAME>")
            name, values = line[lt + 1 : gt], []
        elif line.strip() == "$$$$":
            break
        elif name is not None:
            if line.strip() == "":
                props[name] = "\n".join(values).strip()
                name, values = None, []
            else:
                values.append(line)
    if name is not None:
        props[name] = "\n".join(values).strip()
    if not block.rstrip().endswith("$$$$"):
        raise RecordRejected("SDF entry does not end with '$$$$' (truncated file)")
    return {"molblock": molblock, "props": props}


_BINARY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def parse_fasta_entry(entry: str) -> dict:
    lines = entry.splitlines()
    if not lines or not lines[0].startswith(">"):
        raise RecordRejected(f"FASTA entry does not start with '>': {entry[:40]!r}")
    header = lines[0][1:].strip()
    if not header:
        raise RecordRejected("FASTA entry has an empty header")
    control = _BINARY.search(entry)
    if control:  # a binary blob in a FASTA file decodes as UTF-8 often enough (NUL bytes, escapes)
        line = entry.count("\n", 0, control.start()) + 1
        raise RecordRejected(f"FASTA entry {header.split()[0]!r}: binary data (control character "
                             f"U+{ord(control.group()):04X} on line {line} of the entry)")
    seq = "".join("".join(part.split()) for part in lines[1:])
    if not seq:
        raise RecordRejected(f"FASTA entry {header.split()[0]!r} has no sequence")
    ident, _, desc = header.partition(" ")
    return {"id": ident, "description": desc, "sequence": seq}


def parse_json_line(line: str) -> dict:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RecordRejected(f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise RecordRejected(f"JSON line is a {type(obj).__name__}, expected an object")
    return obj


def parse_row(row: dict, extra_cells: str = "reject") -> dict:
    if None in row and extra_cells == "ignore":
        row = {k: v for k, v in row.items() if k is not None}
    if None in row:
        raise RecordRejected(f"row has {len(row[None])} more cell(s) than the header")
    missing = [k for k, v in row.items() if v is None]
    if missing and len(missing) == len(row):
        raise RecordRejected("empty row")
    return row


def _parse_cells(row: dict, options: dict) -> dict:
    return parse_row(row, options.get("extra_cells", "reject"))


def _named(target: str) -> Callable[[Any, dict], dict]:
    """A parser that lives in a builder module, loaded by name on first use ("module:function"): the
    format table stays here without records importing the modules that import records."""
    cache: list[Callable] = []

    def parse(raw: Any, options: dict) -> dict:
        if not cache:
            import importlib

            module, _, name = target.partition(":")
            cache.append(getattr(importlib.import_module(module), name))
        return cache[0](raw)

    return parse


@dataclass(frozen=True)
class Format:
    """One input format: ``reader(path)`` yields raw records, ``parser(raw, options)`` makes the fields."""

    reader: Callable[[str], Iterator[Any]]
    parser: Callable[[Any, dict], dict]


FORMATS: dict[str, Format] = {
    "sdf": Format(lambda path: _line_blocks(path, "$$$$"), lambda raw, options: parse_sdf_block(raw)),
    "csv": Format(lambda path: _csv_rows(path, ","), lambda raw, options: _parse_cells(raw, options)),
    "tsv": Format(lambda path: _csv_rows(path, "\t"), lambda raw, options: _parse_cells(raw, options)),
    "smi": Format(_smi_rows, lambda raw, options: parse_row(raw)),
    "jsonl": Format(_jsonl_lines, lambda raw, options: parse_json_line(raw)),
    "fasta": Format(_fasta_entries, lambda raw, options: parse_fasta_entry(raw)),
    "uniprot_dat": Format(lambda path: _line_blocks(path, "//"),
                          _named("biomatrix_plugin.corpus.uniprot:parse_uniprot_entry")),
    "parquet": Format(_parquet_rows, lambda raw, options: dict(raw)),
    "types": Format(_types_lines, _named("biomatrix_plugin.corpus.complexes:parse_types_line")),
    "structure": Format(_structure_file, lambda raw, options: {"path": os.path.abspath(raw)}),
    "json_array": Format(_json_array_items, _json_object),
    # OPI: .json arrays for train, .jsonl lines for test, one task reading both (told apart by content)
    "json_records": Format(_named_reader("biomatrix_plugin.corpus.json_records:iter_json_records"), _json_object),
    # PEER's LMDB splits: the path names the environment's data.mdb; records are the pickled dicts under
    # "0".."n-1", unpickled by a restricted unpickler (plain types and numpy arrays only)
    "lmdb": Format(_named_reader("biomatrix_plugin.corpus.lmdb_records:iter_lmdb"), _json_object),
}


def _format(fmt: str) -> Format:
    try:
        return FORMATS[fmt]
    except KeyError:
        raise ConfigError(f"unknown input format {fmt!r}; expected one of {', '.join(FORMATS)}") from None


def iter_raw(path: str, fmt: str) -> Iterator[Any]:
    return _format(fmt).reader(path)


def iter_records(files: list[str], fmt: str) -> Iterator[RawRecord]:
    reader = _format(fmt).reader
    for path in files:
        for i, raw in enumerate(reader(path)):
            yield RawRecord(path, i, raw)


def parse_record(raw: Any, fmt: str, options: dict | None = None) -> dict:
    """Raw record -> field dict; raises :class:`RecordRejected` with the reason.

    options: ``extra_cells`` ("reject" | "ignore") for csv/tsv rows with more cells than the header
    (BindingDB rows of multi-chain targets carry extra chain columns)."""
    if isinstance(raw, BadRecord):
        raise RecordRejected(raw.reason)
    return _format(fmt).parser(raw, options or {})
