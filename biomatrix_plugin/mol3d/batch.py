"""Streaming corpus paths: SDF(.gz) -> JSONL of joint tokens, and JSONL -> SDF, over worker processes.

Records travel to workers as text in chunks and come back in input order; at most a few chunks per
worker are in flight, so memory stays flat on files of any size. Every input record yields one output
line (or, for decode, an SDF entry or a rejects line): nothing is dropped silently.
"""

from __future__ import annotations

import gzip
import io
import json
import multiprocessing as mp
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

_WORKER: dict = {}


def open_text(path: str | Path) -> io.TextIOBase:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, "r", encoding="utf-8", errors="replace")


def iter_sdf_records(path: str | Path) -> Iterator[str]:
    """Yield each SDF record's text (molblock + data items), split on ``$$$$`` lines."""
    buf: list[str] = []
    with open_text(path) as fh:
        for line in fh:
            if line.rstrip("\r\n") == "$$$$":
                yield "".join(buf)
                buf = []
            else:
                buf.append(line)
    if "".join(buf).strip():
        yield "".join(buf)


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
    raise ValueError(f"{path}: unknown input format (expected .sdf, .mol, .mol2 or .smi, optionally .gz)")


def iter_mol2_records(path: str | Path) -> Iterator[str]:
    """Yield each ``@<TRIPOS>MOLECULE`` record of a MOL2 file."""
    buf: list[str] = []
    with open_text(path) as fh:
        for line in fh:
            if line.startswith("@<TRIPOS>MOLECULE") and any(l.strip() for l in buf):
                yield "".join(buf)
                buf = []
            buf.append(line)
    if any(l.strip() for l in buf):
        yield "".join(buf)


def iter_smiles_records(path: str | Path) -> Iterator[str]:
    with open_text(path) as fh:
        for line in fh:
            if line.strip() and not line.startswith("#"):
                yield line.rstrip("\r\n")


def iter_records(path: str | Path, fmt: str) -> Iterator[str]:
    return {"sdf": iter_sdf_records, "mol2": iter_mol2_records, "smi": iter_smiles_records}[fmt](path)


def _parse_record(fmt: str, text: str, embed: bool, seed: int):
    """-> (mol or None, name, error or None)."""
    from rdkit import Chem

    from biomatrix_plugin.mol3d.errors import Mol3DError
    from biomatrix_plugin.mol3d.tokenizer import embed_3d

    if fmt == "smi":
        parts = text.split()
        name = parts[1] if len(parts) > 1 else ""
        mol = Chem.MolFromSmiles(parts[0]) if parts else None
        if mol is None:
            return None, name, f"RDKit cannot parse SMILES {parts[0][:60] if parts else ''!r}"
        if not embed:
            return None, name, "a SMILES record has no 3D coordinates; pass --embed to generate them"
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
    if embed and not (mol.GetNumConformers() and mol.GetConformer().Is3D()):
        try:
            mol = embed_3d(mol, seed=seed)
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


def _init_worker(options: dict) -> None:
    import torch
    from rdkit import RDLogger

    torch.set_num_threads(1)
    RDLogger.DisableLog("rdApp.*")
    from biomatrix_plugin.mol3d.tokenizer import MolStrucTok

    _WORKER["tok"] = MolStrucTok(options.get("checkpoint"), max_atoms=options["max_atoms"])
    _WORKER["options"] = options


def _encode_chunk(chunk: list[tuple[int, str]]) -> list[dict]:
    tok, opts = _WORKER["tok"], _WORKER["options"]
    mols, names, early = [], [], {}
    for index, text in chunk:
        mol, name, error = _parse_record(opts.get("format", "sdf"), text, opts.get("embed", False),
                                         opts.get("seed", 42))
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
        else:
            rec["error"] = res.error
        out.append(rec)
    return out


def _decode_chunk(chunk: list[tuple[int, str]]) -> list[dict]:
    from rdkit import Chem

    tok, opts = _WORKER["tok"], _WORKER["options"]
    recs, texts, names, early = [], [], [], {}
    for index, line in chunk:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            obj, early[index] = {}, f"line is not JSON ({exc.msg})"
        if not early.get(index):
            if not isinstance(obj, dict):
                early[index] = "line is not a JSON object"
            elif "struct_sfi" not in obj:
                early[index] = obj.get("error") or "no struct_sfi field"
        index_name = obj.get("index", index) if isinstance(obj, dict) else index
        names.append(obj.get("name", "") if isinstance(obj, dict) else "")
        recs.append(index_name)
        texts.append(obj.get("struct_sfi", "") if index not in early else "")
    live = [k for k, (index, _) in enumerate(chunk) if index not in early]
    decoded = tok.decode_many([texts[k] for k in live], mmff=opts["mmff"], records=[recs[k] for k in live],
                              on_error="record") if live else []
    by_pos = dict(zip(live, decoded))
    out = []
    for k, (index, _) in enumerate(chunk):
        if index in early:
            out.append({"index": recs[k], "line": index, "error": f"line {index}: {early[index]}"})
            continue
        mol = by_pos[k]
        if isinstance(mol, str):
            out.append({"index": recs[k], "line": index, "error": mol})
            continue
        mol.SetProp("_Name", str(names[k] or recs[k]))
        mol.SetProp("index", str(recs[k]))
        mol.SetProp("smiles", Chem.MolToSmiles(Chem.RemoveHs(mol)))
        sio = io.StringIO()
        writer = Chem.SDWriter(sio)
        writer.write(mol)
        writer.close()
        out.append({"index": recs[k], "line": index, "sdf": sio.getvalue()})
    return out


@dataclass
class RunSummary:
    written: int = 0
    rejected: int = 0
    seconds: float = 0.0  # whole run, worker start-up included
    first_output_s: float = 0.0  # when the first record came back (start-up + first chunk)
    after_first: int = 0  # records that came back after that moment

    def as_dict(self) -> dict:
        return {"written": self.written, "rejected": self.rejected}

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


def _run(items: Iterable, work: Callable, options: dict, workers: int, chunk_size: int,
         sink: Callable[[dict], None], progress: bool, desc: str) -> None:
    from tqdm import tqdm

    bar = tqdm(unit="mol", desc=desc, disable=not progress, mininterval=1.0)
    chunks = _chunks(enumerate(items), chunk_size)
    if workers <= 1:
        _init_worker(options)
        for chunk in chunks:
            for rec in work(chunk):
                sink(rec)
            bar.update(len(chunk))
        bar.close()
        return
    # forkserver: workers fork from a clean server that has imported torch/RDKit but run nothing, which
    # is fast and safe even when this process already used torch's thread pool (plain fork is not).
    if "fork" in mp.get_all_start_methods() and "torch" not in sys.modules:
        ctx = mp.get_context("fork")  # nothing heavy imported here yet: plain fork is safe and quickest
    elif "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["biomatrix_plugin.mol3d.tokenizer"])
    else:
        ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(options,)) as pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.apply_async(work, (chunk,)))
            while len(pending) >= 4 * workers:
                res = pending.popleft().get()
                for rec in res:
                    sink(rec)
                bar.update(len(res))
        while pending:
            res = pending.popleft().get()
            for rec in res:
                sink(rec)
            bar.update(len(res))
    bar.close()


def encode_sdf(in_path: str | Path, out_path: str | Path, workers: int = 1, checkpoint: str | None = None,
               max_atoms: int = 256, embed: bool = False, seed: int = 42, chunk_size: int = 64,
               progress: bool = True) -> RunSummary:
    """Write one JSON line per input record (SDF/MOL, MOL2, or SMILES with ``embed``), in input order:
    ``index``, ``name``, and either ``struct_sfi``/``codes``/``smiles`` or ``error``."""
    summary = RunSummary()
    fmt = input_format(in_path)
    options = {"checkpoint": str(checkpoint) if checkpoint else None, "max_atoms": max_atoms,
               "embed": embed, "seed": seed, "format": fmt}
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(out_path, "w", encoding="utf-8") as out:
        def sink(rec: dict) -> None:
            out.write(json.dumps(rec) + "\n")
            summary._record(t0, "error" in rec)

        _run(iter_records(in_path, fmt), _encode_chunk, options, workers, chunk_size, sink, progress, "encode")
    summary.seconds = time.perf_counter() - t0
    return summary


def decode_jsonl(in_path: str | Path, out_path: str | Path, workers: int = 1, mmff: bool = False,
                 checkpoint: str | None = None, rejects_path: str | Path | None = None,
                 chunk_size: int = 64, progress: bool = True) -> RunSummary:
    """Decode each JSONL line's ``struct_sfi`` into an SDF entry (in input order); lines that cannot be
    decoded (or that carry an encode ``error``) go to ``rejects_path`` (default ``OUT.rejects.jsonl``)."""
    summary = RunSummary()
    options = {"checkpoint": str(checkpoint) if checkpoint else None, "max_atoms": 10**9, "mmff": mmff}
    rejects_path = Path(rejects_path) if rejects_path else Path(str(out_path) + ".rejects.jsonl")
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)

    def lines() -> Iterator[str]:
        with open_text(in_path) as fh:
            for line in fh:
                if line.strip():
                    yield line

    t0 = time.perf_counter()
    with open(out_path, "w", encoding="utf-8") as out, open(rejects_path, "w", encoding="utf-8") as rej:
        def sink(rec: dict) -> None:
            if "error" in rec:
                rej.write(json.dumps(rec) + "\n")
            else:
                out.write(rec["sdf"])
            summary._record(t0, "error" in rec)

        _run(lines(), _decode_chunk, options, workers, chunk_size, sink, progress, "decode")
    summary.seconds = time.perf_counter() - t0
    return summary
