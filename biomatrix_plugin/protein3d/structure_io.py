"""Read protein structure files (PDB, mmCIF, BinaryCIF; plain or gzipped) and write backbones back.

Reading returns the first model as a biotite ``AtomArray`` with altlocs resolved to one conformer (the
highest-occupancy one), which is what :mod:`biomatrix_plugin.protein3d.backbone` extracts chains from.
Every failure is a :class:`StructureFileError` whose message starts with the file name.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from biomatrix_plugin.errors import BioMatrixError, InputFileError
from biomatrix_plugin.io import atomic_write, open_binary

BACKBONE_ATOMS = ("N", "CA", "C")

_PDB_SUFFIXES = {".pdb", ".ent", ".pdb1"}
_CIF_SUFFIXES = {".cif", ".mmcif"}
_BCIF_SUFFIXES = {".bcif"}

# letter -> residue name written into output files; ambiguous letters keep their CCD names
LETTER_TO_RESIDUE_NAME = {
    "A": "ALA", "R": "ARG", "N": "ASN", "D": "ASP", "C": "CYS", "Q": "GLN", "E": "GLU", "G": "GLY",
    "H": "HIS", "I": "ILE", "L": "LEU", "K": "LYS", "M": "MET", "F": "PHE", "P": "PRO", "S": "SER",
    "T": "THR", "W": "TRP", "Y": "TYR", "V": "VAL", "U": "SEC", "O": "PYL", "B": "ASX", "Z": "GLX",
    "J": "UNK", "X": "UNK",
}


class StructureFileError(BioMatrixError, ValueError):
    """A structure file cannot be read or written; the message names the file and the reason."""


def structure_format(path: str | os.PathLike, data: bytes | None = None) -> tuple[str, bool]:
    """(format, gzipped) with format one of ``pdb``, ``cif``, ``bcif``.

    The file name decides when its suffix is known; otherwise the content is sniffed, so that files
    named like AlphaFold DB downloads (``AF-P12345-F1-model_v4.cif.gz``) and odd names both work.
    """
    name = Path(path).name.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    if data is not None and data[:2] == b"\x1f\x8b":
        gz = True
    suffix = Path(name).suffix
    if suffix in _PDB_SUFFIXES:
        return "pdb", gz
    if suffix in _CIF_SUFFIXES:
        return "cif", gz
    if suffix in _BCIF_SUFFIXES:
        return "bcif", gz
    if data is None:
        raise StructureFileError(f"{path}: unknown structure file type "
                                 "(expected .pdb, .ent, .cif, .mmcif, .bcif, optionally .gz)")
    # data may be decompressed already (read through io.open_binary) or a gzip file without .gz in its name
    return _sniff_format(path, gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data), gz


def _sniff_format(path, data: bytes) -> str:
    head = data[:4096]
    text = head.decode("latin-1")
    stripped = text.lstrip()
    if stripped.startswith("data_") or "\n_atom_site." in text or "\nloop_" in text:
        return "cif"
    for line in text.splitlines():
        if line[:6].strip() in {"ATOM", "HETATM", "HEADER", "MODEL", "CRYST1", "REMARK", "TITLE", "COMPND"}:
            return "pdb"
    # MessagePack map header (fixmap 0x80-0x8f or map16/map32): BinaryCIF
    if head and (0x80 <= head[0] <= 0x8F or head[0] in (0xDE, 0xDF)):
        return "bcif"
    raise StructureFileError(f"{path}: not a PDB, mmCIF or BinaryCIF file (content not recognised)")


def _read_bytes(path) -> bytes:
    """The file's bytes, ``*.gz`` decompressed (io.open_binary); every failure names the file."""
    try:
        handle = open_binary(path)
    except InputFileError as exc:
        raise StructureFileError(f"{path}: cannot open ({str(exc).removeprefix(f'{path}: ')})") from None
    except OSError as exc:
        raise StructureFileError(f"{path}: cannot open ({exc.strerror or exc})") from None
    try:
        with handle:
            return handle.read()
    except InputFileError as exc:  # truncated or not-gzip .gz
        raise StructureFileError(f"{path}: cannot read ({str(exc).removeprefix(f'{path}: ')})") from None
    except OSError as exc:
        raise StructureFileError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_first_model(path: str | os.PathLike, extra_fields: Sequence[str] = ("occupancy",)):
    """The first model of ``path`` as an ``AtomArray`` (altlocs: highest occupancy wins)."""
    import biotite.structure.io.pdb as pdb
    import biotite.structure.io.pdbx as pdbx

    raw = _read_bytes(path)
    if not raw:
        raise StructureFileError(f"{path}: empty file")
    fmt, _ = structure_format(path, raw)
    if raw[:2] == b"\x1f\x8b":  # gzip content under a name without .gz
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise StructureFileError(f"{path}: broken gzip data ({exc})") from exc
    try:
        if fmt == "pdb":
            text = raw.decode("latin-1")
            _check_atom_records(path, text)
            handle = pdb.PDBFile.read(io.StringIO(text))
            if handle.get_model_count() == 0:
                raise StructureFileError(f"{path}: no ATOM/HETATM records")
            try:
                atoms = _with_occupancy_fallback(lambda **kw: handle.get_structure(model=1, **kw), extra_fields)
            except ValueError:
                # Minimal PDB lines that end after the coordinates: give them occupancy 1, B 0.
                handle = pdb.PDBFile.read(io.StringIO(_pad_pdb_atom_lines(text)))
                atoms = _with_occupancy_fallback(lambda **kw: handle.get_structure(model=1, **kw), extra_fields)
        else:
            if fmt == "cif":
                handle = pdbx.CIFFile.read(io.StringIO(raw.decode("utf-8", errors="replace")))
            else:
                handle = pdbx.BinaryCIFFile.read(io.BytesIO(raw))
            atoms = _with_occupancy_fallback(
                lambda **kw: pdbx.get_structure(handle, model=1, **kw), extra_fields)
    except StructureFileError:
        raise
    except Exception as exc:  # biotite raises many types (InvalidFileError, KeyError, ValueError, ...)
        raise StructureFileError(f"{path}: cannot parse as {fmt.upper()}: {type(exc).__name__}: {exc}") from exc
    if atoms.array_length() == 0:
        raise StructureFileError(f"{path}: the first model has no atoms")
    return atoms


# An ATOM/HETATM record that ends before column 54 has lost (part of) its coordinates: a file cut in
# the middle of a line. biotite reads the shortened number as it is (12.3 for 12.345) and the residues
# after the cut are simply absent, so the chain would come out short with a wrong last atom.
# (A plain loop over split lines: ~10x faster than a MULTILINE regex, which tries every position.)
def _check_atom_records(path, text: str) -> None:
    for lineno, line in enumerate(text.split("\n"), start=1):
        if len(line) < 55 and line.startswith(("ATOM  ", "HETATM")) and len(line.rstrip("\r")) < 54:
            raise StructureFileError(
                f"{path}: line {lineno}: ATOM/HETATM record ends at column {len(line.rstrip())}, before the end "
                "of its coordinates (column 54); the file looks truncated or damaged")


def _pad_pdb_atom_lines(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if line.startswith(("ATOM", "HETATM")):
            line = line.ljust(80)
            if not line[54:60].strip():
                line = line[:54] + "  1.00" + line[60:]
            if not line[60:66].strip():
                line = line[:60] + "  0.00" + line[66:]
        lines.append(line)
    return "\n".join(lines) + "\n"


def _with_occupancy_fallback(get_structure, extra_fields: Sequence[str]):
    """Highest-occupancy altlocs; files without occupancy values (minimal PDB lines ending after the
    coordinates, generated structures) are read again with the first altloc instead."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*occupancy.*")
        try:
            return get_structure(altloc="occupancy", extra_fields=list(extra_fields))
        except (ValueError, KeyError, IndexError):
            return get_structure(altloc="first", extra_fields=[])


def backbone_atom_array(
    backbone: np.ndarray,
    sequence: str | None = None,
    chain_id: str = "A",
    start_res_id: int = 1,
):
    """An ``AtomArray`` with N, CA, C per residue from an L×3×3 array (residues UNK without a sequence)."""
    import biotite.structure as struc

    coords = np.asarray(backbone, dtype=float)
    if coords.ndim != 3 or coords.shape[1:] != (3, 3) or coords.shape[0] == 0:
        raise StructureFileError(f"backbone: expected an L×3×3 array (N, CA, C per residue), got shape {coords.shape}")
    if not np.isfinite(coords).all():
        bad = sorted({int(i) for i in np.argwhere(~np.isfinite(coords))[:, 0]})
        raise StructureFileError(f"backbone: non-finite coordinates at residue(s) {bad[:10]}")
    length = coords.shape[0]
    if sequence is not None and len(sequence) != length:
        raise StructureFileError(f"backbone: {length} residues but the sequence has {len(sequence)} letters")
    atoms = struc.AtomArray(length * 3)
    atoms.coord = coords.reshape(-1, 3).astype(np.float32)
    atoms.chain_id[:] = chain_id
    atoms.res_id = np.repeat(np.arange(start_res_id, start_res_id + length), 3)
    names = [LETTER_TO_RESIDUE_NAME.get(c, "UNK") for c in (sequence or "X" * length)]
    atoms.res_name = np.repeat(np.array(names), 3)
    atoms.atom_name = np.tile(np.array(BACKBONE_ATOMS), length)
    atoms.element = np.tile(np.array(["N", "C", "C"]), length)
    atoms.hetero[:] = False
    atoms.add_annotation("occupancy", dtype=float)
    atoms.occupancy[:] = 1.0
    atoms.add_annotation("b_factor", dtype=float)
    return atoms


def write_backbone(
    path: str | os.PathLike,
    backbone: np.ndarray,
    sequence: str | None = None,
    chain_id: str = "A",
) -> Path:
    """Write an L×3×3 N/CA/C array as PDB, mmCIF or BinaryCIF (by suffix, ``.gz`` allowed)."""
    import biotite.structure.io.pdb as pdb
    import biotite.structure.io.pdbx as pdbx

    path = Path(path)
    fmt, gz = structure_format(path)
    atoms = backbone_atom_array(backbone, sequence, chain_id)
    if fmt == "pdb":
        handle = pdb.PDBFile()
        handle.set_structure(atoms)
        buffer = io.StringIO()
        handle.write(buffer)
        payload = buffer.getvalue().encode()
    else:
        handle = pdbx.CIFFile() if fmt == "cif" else pdbx.BinaryCIFFile()
        pdbx.set_structure(handle, atoms, data_block=path.name.split(".")[0] or "backbone")
        if fmt == "cif":
            buffer = io.StringIO()
            handle.write(buffer)
            payload = buffer.getvalue().encode()
        else:
            buffer = io.BytesIO()
            handle.write(buffer)
            payload = buffer.getvalue()
    if gz:
        payload = gzip.compress(payload)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, payload)  # a decode run that stops leaves no half-written structure
    return path
