"""Batch encode/decode: SDF/MOL2/SMILES(.gz) -> JSONL of joint tokens, and JSONL -> SDF, over worker processes.

Records travel to workers as text in chunks and come back in input order; at most a few chunks per
worker are in flight, so memory stays flat on files of any size. Every input record yields one output
line (or, for decode, an SDF entry or a rejects line): nothing is dropped silently. Outputs are written
under a temporary name and renamed into place when the run completes (whole or not at all).

The checkpoint and the input file are checked in the parent before any worker starts, and a worker whose
start-up fails reports the error with its first chunk (a failing Pool initializer would be respawned
forever), so a configuration mistake ends the run with one error.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import sys
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

from biomatrix_plugin.errors import InputFileError
from biomatrix_plugin.io import BadLine, atomic_output, iter_jsonl, iter_lines, open_binary, open_text, quiet_rdkit
from biomatrix_plugin.modalities.serialization import DEFAULT_MAX_SMILES_CHARS

_WORKER: dict = {}


@dataclass(frozen=True)
class EncodeOptions:
    """What an encode run does with each record (travels to the workers)."""

    checkpoint: str | None = None
    max_atoms: int = 256  # hydrogens included
    embed: bool = False
    seed: int = 42
    max_smiles_chars: int = DEFAULT_MAX_SMILES_CHARS  # checked before RDKit reads a SMILES
    max_embed_atoms: int | None = None  # heavy atoms checked before RDKit/ETKDG (None: max_atoms)
    isotopes: str = "warn"  # "warn": encode without the labels, count them; "reject"
    format: str = "sdf"


@dataclass(frozen=True)
class DecodeOptions:
    checkpoint: str | None = None
    mmff: bool = False
    rejects: str | None = None  # default OUT.rejects.jsonl


@dataclass(frozen=True)
class RunOptions:
    """How a run is executed (never changes its output)."""

    workers: int = 1
    chunk_size: int = 64
    progress: bool = True


# ---------------------------------------------------------------------- reading


def input_format(path: str | Path) -> str:
    """'sdf' (.sdf/.mol/.sd), 'mol2' or 'smi' (.smi/.smiles/.txt, needs --embed), .gz allowed."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = name.rsplit(".", 1)[-1] if "." in name else ""
    if suffix in ("sdf", "sd", "mol"):
        return "sdf"
    if suffix == "mol2":
        return "mol2"
    if suffix in ("smi", "smiles", "txt"):
        return "smi"
    raise InputFileError(f"{path}: unknown input format (expected .sdf, .mol, .mol2 or .smi, optionally .gz)")


def iter_sdf_records(path: str | Path) -> Iterator[str]:
    """Each SDF record's text (molblock + data items); kept for callers of the old name."""
    return sdf_records(path)


def sdf_records(path: str | Path, chunk_chars: int = 1 << 20) -> Iterator[str]:
    """:func:`biomatrix_plugin.io.sdf_blocks` (records split on lines equal to ``$$$$``, terminator
    dropped, a trailing unterminated record kept when not blank, non-UTF-8 an error naming the file),
    read in large chunks: the line-by-line reader costs ~40 us a record, a tenth of MolStrucTok's encode.
    Lines are split as the text reader splits them (universal newlines, endings kept), by ``io.StringIO``
    on each chunk; a chunk never ends between a CR and its LF."""
    import io

    buf: list[str] = []
    carry = ""
    with open_text(path) as fh:
        while True:
            chunk = fh.read(chunk_chars)
            while chunk.endswith("\r"):
                more = fh.read(1)
                if not more:
                    break
                chunk += more
            if not chunk:
                break
            lines = io.StringIO(carry + chunk, newline="").readlines()
            carry = lines.pop() if not lines[-1].endswith(("\n", "\r")) else ""
            for line in lines:
                if line[0] == "$" and line.rstrip("\r\n") == "$$$$":
                    yield "".join(buf)
                    buf = []
                else:
                    buf.append(line)
    if carry:
        if carry == "$$$$":
            yield "".join(buf)
            buf = []
        else:
            buf.append(carry)
    if any(part.strip() for part in buf):
        yield "".join(buf)


def iter_mol2_records(path: str | Path) -> Iterator[str]:
    """Yield each ``@<TRIPOS>MOLECULE`` record of a MOL2 file."""
    buf: list[str] = []
    with open_text(path) as fh:
        for line in fh:
            if line.startswith("@<TRIPOS>MOLECULE") and any(part.strip() for part in buf):
                yield "".join(buf)
                buf = []
            buf.append(line)
    if any(part.strip() for part in buf):
        yield "".join(buf)


def iter_smiles_records(path: str | Path) -> Iterator[str | BadLine]:
    """SMILES lines (a non-UTF-8 line comes back as a BadLine, rejected with its reason)."""
    for _, line in iter_lines(path):
        if isinstance(line, BadLine):
            yield line
        elif line.strip() and not line.startswith("#"):
            yield line.rstrip("\r\n")


def iter_records(path: str | Path, fmt: str) -> Iterator:
    return {"sdf": sdf_records, "mol2": iter_mol2_records, "smi": iter_smiles_records}[fmt](path)


def _check_readable(path: str | Path) -> None:
    open_binary(path).close()  # a missing or unreadable input is one error before any worker starts


# ---------------------------------------------------------------------- per record


def _parse_smiles_record(text: str, opts: EncodeOptions):
    from rdkit import Chem

    from biomatrix_plugin.modalities.serialization import SerializationError, check_smiles_size

    parts = text.split()
    name = parts[1] if len(parts) > 1 else ""
    if not parts:
        return None, name, "empty SMILES line"
    try:  # before RDKit: a 10 MB line or a 20,000-atom SMILES costs gigabytes or crashes it
        check_smiles_size(parts[0], opts.max_smiles_chars, opts.max_embed_atoms or opts.max_atoms)
    except SerializationError as exc:
        return None, name, str(exc)
    mol = Chem.MolFromSmiles(parts[0])
    if mol is None:
        return None, name, f"RDKit cannot parse SMILES {parts[0][:60]!r}"
    if not opts.embed:
        return None, name, "a SMILES record has no 3D coordinates; pass --embed to generate them"
    return mol, name, None


def _parse_record(fmt: str, text, opts: EncodeOptions):
    """-> (mol or None, name, error or None)."""
    from rdkit import Chem

    from biomatrix_plugin.mol3d.errors import Mol3DError
    from biomatrix_plugin.mol3d.tokenizer import embed_3d

    if isinstance(text, BadLine):
        return None, "", text.reason
    if fmt == "smi":
        mol, name, error = _parse_smiles_record(text, opts)
        if error:
            return None, name, error
    elif fmt == "mol2":
        lines = text.split("\n")
        name = lines[1].strip() if len(lines) > 1 else ""
        mol = Chem.MolFromMol2Block(text, removeHs=False)
        if mol is None:
            return None, name, "RDKit could not parse the MOL2 record"
    else:
        name = text.split("\n", 1)[0].strip()
        mol = Chem.MolFromMolBlock(text, removeHs=False)
        if mol is None:
            return None, name, "RDKit could not parse the molblock"
    if opts.embed and not (mol.GetNumConformers() and mol.GetConformer().Is3D()):
        try:
            mol = embed_3d(mol, seed=opts.seed, max_atoms=opts.max_atoms,
                           max_heavy_atoms=opts.max_embed_atoms or opts.max_atoms)
        except Mol3DError as exc:
            return None, name, str(exc)
    return mol, name, None


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _init_worker(options) -> None:
    """Load the tokenizer once per process. A failure is kept and raised by the first chunk: raising
    here would make multiprocessing respawn the worker forever."""
    _WORKER.clear()
    _WORKER["options"] = options
    try:
        import torch

        from biomatrix_plugin.mol3d.tokenizer import MolStrucTok

        torch.set_num_threads(1)
        isotopes = getattr(options, "isotopes", "warn")
        max_atoms = getattr(options, "max_atoms", 10**9)
        _WORKER["tok"] = MolStrucTok(options.checkpoint, max_atoms=max_atoms, isotopes=isotopes)
    except Exception as exc:  # not hidden: re-raised, with its type, by _worker() in the first chunk
        _WORKER["init_error"] = exc


def _worker():
    if "init_error" in _WORKER:
        raise _WORKER["init_error"]
    return _WORKER["tok"], _WORKER["options"]


def _encode_chunk(chunk: list[tuple[int, object]]) -> list[dict]:
    tok, opts = _worker()
    mols, names, early = [], [], {}
    with quiet_rdkit():
        for index, text in chunk:
            mol, name, error = _parse_record(opts.format, text, opts)
            if error:
                early[index] = error
            mols.append(mol)
            names.append(name)
        results = tok.encode_mols(mols, records=[i for i, _ in chunk], on_error="record")
    out = []
    for (index, _), name, res in zip(chunk, names, results):
        rec: dict = {"index": index, "name": name}
        if index in early:
            rec["error"] = f"record {index}: {early[index]}"
        elif res.ok:
            rec.update(struct_sfi=res.struct_sfi, codes=res.codes, smiles=res.smiles)
            if res.warnings:
                rec["warnings"] = res.warnings
            if res.isotopes_dropped:
                rec["isotopes_dropped"] = res.isotopes_dropped
        else:
            rec["error"] = res.error
        out.append(rec)
    return out


def _decode_inputs(chunk: list[tuple[int, tuple]]) -> tuple[list, list, list, dict]:
    """Per line: the record name, its index and struct_sfi, or an early error."""
    recs, texts, names, early = [], [], [], {}
    for index, (lineno, obj, error) in chunk:
        if error:
            early[index] = error
        elif not isinstance(obj, dict):
            early[index] = "line is not a JSON object"
        elif not isinstance(obj.get("struct_sfi"), str):
            early[index] = obj.get("error") or "no struct_sfi text field"
        is_obj = isinstance(obj, dict)
        recs.append(obj.get("index", index) if is_obj else index)
        names.append(obj.get("name", "") if is_obj else "")
        texts.append(obj["struct_sfi"] if index not in early else "")
    return recs, texts, names, early


def _decode_chunk(chunk: list[tuple[int, tuple]]) -> list[dict]:
    from rdkit import Chem

    tok, opts = _worker()
    recs, texts, names, early = _decode_inputs(chunk)
    live = [k for k, (index, _) in enumerate(chunk) if index not in early]
    with quiet_rdkit():
        decoded = tok.decode_many([texts[k] for k in live], mmff=opts.mmff, records=[recs[k] for k in live],
                                  on_error="record") if live else []
        by_pos = dict(zip(live, decoded))
        out = []
        for k, (index, (lineno, _, _)) in enumerate(chunk):
            if index in early:
                out.append({"index": recs[k], "line": lineno, "error": f"line {lineno}: {early[index]}"})
                continue
            mol = by_pos[k]
            if isinstance(mol, str):
                out.append({"index": recs[k], "line": lineno, "error": mol})
                continue
            out.append({"index": recs[k], "line": lineno, "sdf": _sdf_entry(Chem, mol, names[k] or recs[k], recs[k])})
    return out


def _sdf_entry(Chem, mol, name, index) -> str:
    import io

    mol.SetProp("_Name", str(name))
    mol.SetProp("index", str(index))
    try:
        heavy = Chem.RemoveHs(mol)
    except (ValueError, RuntimeError):  # a decoded graph RDKit cannot sanitize: still write its SMILES
        heavy = Chem.RemoveHs(mol, sanitize=False)
    mol.SetProp("smiles", Chem.MolToSmiles(heavy))
    sio = io.StringIO()
    writer = Chem.SDWriter(sio)
    writer.write(mol)
    writer.close()
    return sio.getvalue()


# ---------------------------------------------------------------------- running


@dataclass
class RunSummary:
    written: int = 0
    rejected: int = 0
    isotope_warnings: int = 0  # molecules encoded without their isotope labels (--isotopes warn)
    seconds: float = 0.0  # whole run, worker start-up included
    first_output_s: float = 0.0  # when the first record came back (start-up + first chunk)
    after_first: int = 0  # records that came back after that moment
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"written": self.written, "rejected": self.rejected, **self.extra}

    @property
    def steady_rate(self) -> float:
        """Records/s once the workers are up: excludes process start-up and the first chunk."""
        span = self.seconds - self.first_output_s
        return self.after_first / span if span > 0 and self.after_first else 0.0

    def _record(self, t0: float, is_error: bool) -> None:
        now = time.perf_counter() - t0
        if is_error:
            self.rejected += 1
        else:
            self.written += 1
        if not self.first_output_s:
            self.first_output_s = now
        else:
            self.after_first += 1
        self.seconds = now


def _context():
    # forkserver: workers fork from a clean server that has imported torch/RDKit but run nothing, which
    # is fast and safe even when this process already used torch's thread pool (plain fork is not).
    if "fork" in mp.get_all_start_methods() and "torch" not in sys.modules:
        return mp.get_context("fork")  # nothing heavy imported here yet: plain fork is safe and quickest
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["biomatrix_plugin.mol3d.tokenizer"])
        return ctx
    return mp.get_context("spawn")


def _run(items: Iterable, work: Callable, options, run: RunOptions, sink: Callable[[dict], None],
         desc: str) -> None:
    from tqdm import tqdm

    bar = tqdm(unit="mol", desc=desc, disable=not run.progress, mininterval=1.0)
    chunks = _chunks(enumerate(items), run.chunk_size)
    try:
        if run.workers <= 1:
            _init_worker(options)
            for chunk in chunks:
                for rec in work(chunk):
                    sink(rec)
                bar.update(len(chunk))
            return
        with _context().Pool(run.workers, initializer=_init_worker, initargs=(options,)) as pool:
            pending: deque = deque()
            for chunk in chunks:
                pending.append(pool.apply_async(work, (chunk,)))
                while len(pending) >= 4 * run.workers:
                    _drain(pending.popleft().get(), sink, bar)
            while pending:
                _drain(pending.popleft().get(), sink, bar)
    finally:
        bar.close()


def _drain(records: list[dict], sink, bar) -> None:
    for rec in records:
        sink(rec)
    bar.update(len(records))


def _prepare_output(path: str | Path) -> None:
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot create its folder ({exc.strerror})") from None


def encode_sdf(in_path: str | Path, out_path: str | Path, options: EncodeOptions | None = None,
               run: RunOptions | None = None) -> RunSummary:
    """Write one JSON line per input record (SDF/MOL, MOL2, or SMILES with ``embed``), in input order:
    ``index``, ``name``, and either ``struct_sfi``/``codes``/``smiles`` (plus ``warnings`` and
    ``isotopes_dropped`` when isotope labels were dropped) or ``error``."""
    from biomatrix_plugin.mol3d.checkpoint import require_checkpoint

    options, run = options or EncodeOptions(), run or RunOptions()
    fmt = input_format(in_path)
    _check_readable(in_path)
    options = replace(options, checkpoint=str(require_checkpoint(options.checkpoint)), format=fmt)
    _prepare_output(out_path)
    summary = RunSummary()
    t0 = time.perf_counter()
    with atomic_output(out_path) as out:
        def sink(rec: dict) -> None:
            out.write(json.dumps(rec) + "\n")
            summary._record(t0, "error" in rec)
            summary.isotope_warnings += bool(rec.get("isotopes_dropped"))

        _run(iter_records(in_path, fmt), _encode_chunk, options, run, sink, "encode")
    summary.extra["isotope_warnings"] = summary.isotope_warnings
    summary.seconds = time.perf_counter() - t0
    return summary


def decode_jsonl(in_path: str | Path, out_path: str | Path, options: DecodeOptions | None = None,
                 run: RunOptions | None = None) -> RunSummary:
    """Decode each JSONL line's ``struct_sfi`` into an SDF entry (in input order); lines that cannot be
    decoded (or that carry an encode ``error``) go to the rejects file (default ``OUT.rejects.jsonl``)
    with their line number."""
    from biomatrix_plugin.mol3d.checkpoint import require_checkpoint

    options, run = options or DecodeOptions(), run or RunOptions()
    _check_readable(in_path)
    options = replace(options, checkpoint=str(require_checkpoint(options.checkpoint)))
    rejects_path = Path(options.rejects) if options.rejects else Path(str(out_path) + ".rejects.jsonl")
    _prepare_output(out_path)
    _prepare_output(rejects_path)
    summary = RunSummary()
    t0 = time.perf_counter()
    with atomic_output(out_path) as out, atomic_output(rejects_path) as rej:
        def sink(rec: dict) -> None:
            if "error" in rec:
                rej.write(json.dumps(rec) + "\n")
            else:
                out.write(rec["sdf"])
            summary._record(t0, "error" in rec)

        _run(iter_jsonl(in_path), _decode_chunk, options, run, sink, "decode")
    summary.seconds = time.perf_counter() - t0
    return summary
