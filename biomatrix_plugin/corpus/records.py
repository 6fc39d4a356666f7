"""Streaming readers: raw input files -> a sequence of records, one at a time.

A reader never loads a whole file. It yields *raw* records (the text block of one SDF entry, one FASTA
entry, one UniProt entry, one CSV/TSV row as a dict, one JSON line as a string) so that a shard can skip
the records it does not own cheaply; parsing the record into fields happens in :func:`parse_record`,
whose failures become rejects with a reason instead of crashing the run.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from biomatrix_plugin.errors import BioMatrixError

FORMATS = ("sdf", "csv", "tsv", "smi", "jsonl", "fasta", "uniprot_dat", "parquet", "types", "structure")


class RecordRejected(BioMatrixError, ValueError):
    """A record cannot become an instance; ``str(exc)`` is the reason written to the rejects file."""


@dataclass(frozen=True)
class RawRecord:
    source: str  # file the record came from
    position: int  # 0-based record number inside that file
    raw: Any  # str for text formats, dict for csv/tsv/parquet rows

    @property
    def where(self) -> str:
        return f"{os.path.basename(self.source)}#{self.position}"


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


def resolve_inputs(pattern: str | list[str], root: str | Path | None = None) -> list[str]:
    """Expand a path pattern (or list of them) relative to ``root``; sorted so record order is stable."""
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    files: list[str] = []
    for pat in patterns:
        pat = os.path.expandvars(os.path.expanduser(pat))
        if root is not None and not os.path.isabs(pat):
            pat = os.path.join(str(root), pat)
        files.extend(sorted(p for p in glob.glob(pat, recursive=True) if os.path.isfile(p)))
    return files


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _open_text(path: str) -> io.TextIOBase:
    if path.endswith(".gz"):
        import gzip

        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _blocks(path: str, terminator: str) -> Iterator[str]:
    """Text blocks ending with a line equal to ``terminator`` (SDF ``$$$$``, UniProt ``//``).

    A trailing block without terminator is still yielded so that a truncated file produces a reject
    (with the parser's reason) instead of vanishing."""
    buf: list[str] = []
    with _open_text(path) as fh:
        for line in fh:
            if line.rstrip("\r\n") == terminator:
                buf.append(line)
                yield "".join(buf)
                buf = []
            else:
                buf.append(line)
    if any(l.strip() for l in buf):
        yield "".join(buf)


def _fasta_entries(path: str) -> Iterator[str]:
    buf: list[str] = []
    with _open_text(path) as fh:
        for line in fh:
            if line.startswith(">") and buf:
                yield "".join(buf)
                buf = []
            if line.strip() or buf:
                buf.append(line)
    if buf:
        yield "".join(buf)


def _csv_rows(path: str, delimiter: str) -> Iterator[dict]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with _open_text(path) as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        for row in reader:
            # DictReader puts surplus cells under key None; keep them visible so the parser can reject
            yield row


SMI_DEFAULT_COLUMNS = ("smiles", "name")


def _smi_rows(path: str) -> Iterator[dict]:
    """SMILES files (ZINC20 tranches, RDKit/NCI .smi): whitespace-separated columns, SMILES first.

    A first line whose first cell is ``smiles`` (any case) is the header (ZINC20's ``smiles zinc_id``);
    without one the columns are ``smiles name``. The last column takes the rest of the line, since
    compound names may contain spaces; a line with fewer cells than the header keeps them as missing."""
    with _open_text(path) as fh:
        columns: tuple[str, ...] | None = None
        for line in fh:
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


def _jsonl_lines(path: str) -> Iterator[str]:
    with _open_text(path) as fh:
        for line in fh:
            if line.strip():
                yield line


def _parquet_rows(path: str, batch_size: int = 1024) -> Iterator[dict]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    for batch in pf.iter_batches(batch_size=batch_size):
        yield from batch.to_pylist()


def _types_lines(path: str) -> Iterator[str]:
    """gnina/CrossDocked ``.types`` index lines; blank lines and whole-line ``#`` comments are not records."""
    with _open_text(path) as fh:
        for line in fh:
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                yield line


def iter_raw(path: str, fmt: str) -> Iterator[str | dict]:
    if fmt == "sdf":
        return _blocks(path, "$$$$")
    if fmt == "uniprot_dat":
        return _blocks(path, "//")
    if fmt == "fasta":
        return _fasta_entries(path)
    if fmt == "csv":
        return _csv_rows(path, ",")
    if fmt == "tsv":
        return _csv_rows(path, "\t")
    if fmt == "smi":
        return _smi_rows(path)
    if fmt == "jsonl":
        return _jsonl_lines(path)
    if fmt == "parquet":
        return _parquet_rows(path)
    if fmt == "types":
        return _types_lines(path)
    if fmt == "structure":  # one structure file (PDB/mmCIF, e.g. a PPIRef pair) is one record
        return iter([path])
    raise ValueError(f"unknown input format {fmt!r}; expected one of {', '.join(FORMATS)}")


def iter_records(files: list[str], fmt: str) -> Iterator[RawRecord]:
    for path in files:
        for i, raw in enumerate(iter_raw(path, fmt)):
            yield RawRecord(path, i, raw)


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


def parse_fasta_entry(entry: str) -> dict:
    lines = entry.splitlines()
    if not lines or not lines[0].startswith(">"):
        raise RecordRejected(f"FASTA entry does not start with '>': {entry[:40]!r}")
    header = lines[0][1:].strip()
    if not header:
        raise RecordRejected("FASTA entry has an empty header")
    seq = "".join("".join(l.split()) for l in lines[1:])
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


def parse_record(raw: Any, fmt: str, options: dict | None = None) -> dict:
    """Raw record -> field dict; raises :class:`RecordRejected` with the reason.

    options: ``extra_cells`` ("reject" | "ignore") for csv/tsv rows with more cells than the header
    (BindingDB rows of multi-chain targets carry extra chain columns)."""
    options = options or {}
    if fmt == "sdf":
        return parse_sdf_block(raw)
    if fmt == "fasta":
        return parse_fasta_entry(raw)
    if fmt == "jsonl":
        return parse_json_line(raw)
    if fmt in ("csv", "tsv"):
        return parse_row(raw, options.get("extra_cells", "reject"))
    if fmt == "smi":
        return parse_row(raw)
    if fmt == "parquet":
        return dict(raw)
    if fmt == "uniprot_dat":
        from biomatrix_plugin.corpus.uniprot import parse_uniprot_entry

        return parse_uniprot_entry(raw)
    if fmt == "types":
        from biomatrix_plugin.corpus.complexes import parse_types_line

        return parse_types_line(raw)
    if fmt == "structure":
        return {"path": os.path.abspath(raw)}
    raise ValueError(f"unknown input format {fmt!r}")
