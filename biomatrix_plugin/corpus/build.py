"""Sharded, streaming, resumable corpus builds.

Layout under ``--out DIR`` for a card named ``NAME`` with N shards (``FOLDER`` is the last component of the
card's ``output.file_name``, by default ``NAME``: building into ``data_registry/corpus`` gives the folder
that ``file_name: corpus/FOLDER`` in the registry's dataset_info.json points at)::

    DIR/FOLDER/part-00000-of-0000N.jsonl  training data only (LLaMA-Factory loads the whole folder)
                                          (.parquet with --format parquet, see below)
    DIR/_build/NAME/rejects-00000.jsonl   one JSON line per rejected record: source, position, reason
    DIR/_build/NAME/state-00000.json      checkpoint of a shard (records consumed, bytes written)
    DIR/_build/NAME/manifest.json         counts per shard, input and side-table checksums, seed, code version
    DIR/dataset_info.json                 LLaMA-Factory entries for every dataset built into DIR

With at least N input files, shard ``k`` builds files ``k, k+N, ...`` (sorted order); otherwise record
``g`` (counted across the input files) belongs to shard ``g % N``. A record's randomness is seeded by (seed,
card, file, position), the file named by its path relative to the data root (``records.source_key``, also
the ``source`` of a reject), so the output does not depend on the number of workers, on the engine (process
pool or Ray) or on where the data root is mounted. A shard checkpoints every ``checkpoint_every`` records;
after a kill it truncates its files to the last checkpoint and continues, which gives byte-identical
output because everything before the checkpoint is deterministic.

With ``output_format="parquet"`` a shard still writes (and checkpoints, and truncates on resume) its JSONL,
but into ``DIR/_build/NAME/``; once the shard is complete it is converted in fixed-size row groups with
fixed writer settings into ``DIR/NAME/part-....parquet`` (atomic rename), the state records the
conversion, and the staging JSONL is deleted. A kill during conversion leaves the JSONL and an unconverted
state, so the rerun converts again and the parquet bytes are identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from dataclasses import dataclass
from dataclasses import field as dataclasses_field
from pathlib import Path
from typing import Any, Callable

from biomatrix_plugin.corpus.records import (
    RecordRejected,
    file_sha256,
    iter_records,
    parse_record,
    resolve_inputs,
    source_key,
)
from biomatrix_plugin.errors import BioMatrixError, ConfigError

STATE_VERSION = 1
OUTPUT_FORMATS = ("jsonl", "parquet")
PARQUET_ROWS_PER_GROUP = 4096  # fixed, so the same instances always give the same file


class BuildInterrupted(BioMatrixError, RuntimeError):
    """Raised by the ``stop_after`` test hook to simulate a killed worker."""


class BuildConfigError(ConfigError, RuntimeError):
    """An output directory already holds a build made with different settings."""


@dataclass(frozen=True)
class ShardTask:
    """Everything one shard needs; plain data so it pickles to a process pool or a Ray task."""

    card: dict
    card_path: str
    files: tuple[str, ...]
    shard: int
    n_shards: int
    out_dir: str
    fingerprint: str
    checkpoint_every: int = 1000
    stop_after: int | None = None  # test hook: raise BuildInterrupted after this many records
    shard_by: str = "record"  # "file": shard k reads files k, k+N, ...; "record": every file, records g % N == k
    output_format: str = "jsonl"  # "jsonl" or "parquet" (built as JSONL, converted when the shard is complete)
    data_root: str | None = None  # inputs are named relative to it in rejects and record seeds (source_key)

    def owned_records(self):
        """The raw records of this shard, in a fixed order."""
        if self.shard_by == "file":
            mine = [f for i, f in enumerate(self.files) if i % self.n_shards == self.shard]
            return iter_records(mine, self.card["input"]["format"])
        return (rec for g, rec in enumerate(iter_records(list(self.files), self.card["input"]["format"]))
                if g % self.n_shards == self.shard)

    @property
    def name(self) -> str:
        return self.card["name"]

    @property
    def folder(self) -> str:
        from biomatrix_plugin.corpus.registry import output_folder

        return output_folder(self.card)

    def data_path(self) -> Path:
        """Where the shard writes (and resumes) its JSON lines: the output itself for JSONL builds, a
        staging file under _build/ for parquet builds (the dataset folder must hold one file type)."""
        stem = f"part-{self.shard:05d}-of-{self.n_shards:05d}"
        if self.output_format == "parquet":
            return self.meta_dir() / f"{stem}.jsonl"
        return Path(self.out_dir) / self.folder / f"{stem}.jsonl"

    def output_path(self) -> Path:
        return Path(self.out_dir) / self.folder / f"part-{self.shard:05d}-of-{self.n_shards:05d}.{self.output_format}"

    def meta_dir(self) -> Path:
        return Path(self.out_dir) / "_build" / self.name

    def rejects_path(self) -> Path:
        return self.meta_dir() / f"rejects-{self.shard:05d}.jsonl"

    def state_path(self) -> Path:
        return self.meta_dir() / f"state-{self.shard:05d}.json"


# ---------------------------------------------------------------- code version and fingerprints

def code_version() -> dict:
    """Package version, git commit (when run from a checkout) and a hash of the code that shapes output."""
    import importlib.metadata

    try:
        version = importlib.metadata.version("biomatrix-plugin")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    pkg_dir = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    # every source file of the package: a build runs corpus/, modalities/, vocab/, mol3d/, protein3d/ and the
    # io layer, and a resumed build must not mix instances made by two versions of any of them
    for path in sorted(pkg_dir.rglob("*.py")):
        h.update(path.relative_to(pkg_dir).as_posix().encode())
        h.update(path.read_bytes())
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=pkg_dir, capture_output=True, text=True,
                                timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"package_version": version, "git_commit": commit, "builder_code_sha256": h.hexdigest()}


def input_checksums(files: list[str], cache_path: Path | None = None) -> list[dict]:
    """sha256 of every input file; cached by (path, size, mtime) so a resumed build does not re-hash."""
    cache: dict[str, dict] = {}
    if cache_path is not None and cache_path.exists():
        cache = {c["path"]: c for c in json.loads(cache_path.read_text())}
    out = []
    for f in files:
        st = os.stat(f)
        hit = cache.get(f)
        if hit and hit["size"] == st.st_size and hit["mtime_ns"] == st.st_mtime_ns:
            out.append(hit)
        else:
            out.append({"path": f, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": file_sha256(f)})
    if cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(cache_path, json.dumps(out, indent=1))
    return out


def side_table_checksums(card_data: dict, root: str | Path, cache_path: Path | None = None) -> list[dict]:
    """sha256 of every file a builder param names (entity_table, chemical_table, sequence_table,
    structure_table, structure_codes; cached by size+mtime like the inputs) and of the SELFIES vocabulary a
    ``selfies_vocabulary`` setting selects: they shape the instances as much as the inputs do. A folder
    param (``structure_root``) is not hashed: listing a CrossDocked2020 tree on every resume is too slow."""
    params = (_resolve_param_paths(card_data, root).get("builder") or {}).get("params") or {}
    named = []
    for key in _path_params():
        value = params.get(key)
        if not isinstance(value, str):
            continue
        if os.path.isfile(value):
            named.append((key, value))
        elif not os.path.isdir(value):
            raise FileNotFoundError(f"builder.params.{key} {value!r} does not exist (paths are resolved under the "
                                    f"data root {root})")
    sums = input_checksums([f for _, f in named], cache_path) if named else []
    out = [{"param": key, "file": source_key(f, root), "sha256": c["sha256"]} for (key, f), c in zip(named, sums)]
    setting = params.get("selfies_vocabulary")
    if setting not in (None, "open"):
        from biomatrix_plugin.corpus.molecules import selfies_vocabulary

        symbols = "\n".join(sorted(selfies_vocabulary(setting)))
        out.append({"param": "selfies_vocabulary", "file": setting,
                    "sha256": hashlib.sha256(symbols.encode()).hexdigest()})
    return out


def build_fingerprint(card: dict, checksums: list[dict], n_shards: int, code: dict, output_format: str = "jsonl",
                      root: str | Path | None = None, side_tables: list[dict] | None = None) -> str:
    payload = {
        "card": card,
        "inputs": [(source_key(c["path"], root), c["sha256"]) for c in checksums],
        "n_shards": n_shards,
        "code": code["builder_code_sha256"],
    }
    if side_tables:
        payload["side_tables"] = [(t["param"], t["file"], t["sha256"]) for t in side_tables]
    if output_format != "jsonl":  # JSONL builds keep the fingerprints they had before parquet existed
        payload["output_format"] = output_format
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------- one shard

def _instance_line(instance: dict) -> str:
    if not isinstance(instance, dict) or not isinstance(instance.get("text"), str):
        raise RecordRejected(f"builder returned {type(instance).__name__} without a 'text' string")
    if not instance["text"].strip():
        raise RecordRejected("builder produced an empty text")
    return json.dumps(instance, ensure_ascii=False) + "\n"


def run_shard(task: ShardTask, progress: Callable[[int], None] | None = None) -> dict:
    """Build (or finish) one shard; returns its summary. Safe to call again after a kill."""
    from biomatrix_plugin.corpus.builders import BUILDERS
    from biomatrix_plugin.corpus.compose import keyed_rng

    meta = task.meta_dir()
    meta.mkdir(parents=True, exist_ok=True)
    task.data_path().parent.mkdir(parents=True, exist_ok=True)
    task.output_path().parent.mkdir(parents=True, exist_ok=True)
    state = {"version": STATE_VERSION, "fingerprint": task.fingerprint, "consumed": 0, "data_bytes": 0,
             "rejects_bytes": 0, "written": 0, "rejected": 0, "records": 0, "done": False}
    if task.state_path().exists():
        old = json.loads(task.state_path().read_text())
        if old.get("fingerprint") != task.fingerprint:
            raise BuildConfigError(
                f"{task.state_path()}: this output directory holds a build of {task.name!r} with different "
                "settings (card, inputs, shard count or code); use a fresh --out or pass --force")
        state = old
        _check_files_against_state(task, state)
    if state["done"]:
        if task.output_format == "parquet" and not state.get("converted"):
            _convert_to_parquet(task, state)  # killed between finishing and converting
        return _summary(task, state)

    builder_name = task.card["builder"]["name"]
    builder = BUILDERS[builder_name].function
    params = dict(task.card["builder"].get("params") or {})
    fmt = task.card["input"]["format"]
    options = dict(task.card["input"].get("options") or {})
    seed = int(task.card.get("seed", 0))

    data_fh = open(task.data_path(), "a+b")
    rej_fh = open(task.rejects_path(), "a+b")
    # drop whatever was written after the last checkpoint, so a resume replays it identically
    data_fh.truncate(state["data_bytes"])
    rej_fh.truncate(state["rejects_bytes"])
    data_fh.seek(0, os.SEEK_END)
    rej_fh.seek(0, os.SEEK_END)

    def checkpoint(done: bool = False) -> None:
        data_fh.flush()
        rej_fh.flush()
        os.fsync(data_fh.fileno())
        os.fsync(rej_fh.fileno())
        state["data_bytes"] = data_fh.tell()
        state["rejects_bytes"] = rej_fh.tell()
        state["done"] = done
        _atomic_write(task.state_path(), json.dumps(state, indent=1))

    local = 0  # records of this shard seen so far
    since_report = 0
    processed_now = 0
    keys: dict[str, str] = {}  # input path -> source_key
    torch_threads = _single_threaded_torch(builder_name)
    try:
        for rec in task.owned_records():
            local += 1
            if local <= state["consumed"]:
                continue
            if task.stop_after is not None and processed_now >= task.stop_after:
                raise BuildInterrupted(f"stopped after {processed_now} records (test hook)")
            source = keys.get(rec.source)
            if source is None:  # once per input file: it costs more than a whole text record
                source = keys[rec.source] = source_key(rec.source, task.data_root)
            rng = keyed_rng(seed, task.name, source, rec.position)
            try:
                fields = parse_record(rec.raw, fmt, options)
                lines = [_instance_line(inst) for inst in builder(fields, rng, params)]
                if not lines:
                    raise RecordRejected("builder produced no instance")
            except RecordRejected as exc:
                reason = str(exc)
            except Exception as exc:  # a builder bug must not kill a day-long run; it shows in the rejects
                reason = f"internal error {type(exc).__name__}: {exc}"
            else:
                reason = None
            if reason is None:
                data_fh.write("".join(lines).encode("utf-8"))
                state["written"] += len(lines)
            else:
                entry = {"dataset": task.name, "source": source, "position": rec.position,
                         "reason": reason}
                rej_fh.write((json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))
                state["rejected"] += 1
            state["records"] += 1
            state["consumed"] = local
            processed_now += 1
            since_report += 1
            if state["consumed"] % task.checkpoint_every == 0:
                checkpoint()
            if progress is not None and since_report >= 100:
                progress(since_report)
                since_report = 0
        checkpoint(done=True)
    finally:
        data_fh.close()
        rej_fh.close()
        if torch_threads is not None:
            import torch

            torch.set_num_threads(torch_threads)
    if progress is not None and since_report:
        progress(since_report)
    if task.output_format == "parquet":
        _convert_to_parquet(task, state)
    return _summary(task, state)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _check_files_against_state(task: ShardTask, state: dict) -> None:
    """Refuse to resume a shard whose files no longer hold what its checkpoint says they hold: truncating a
    deleted or shortened file "back" to the checkpoint would pad it with NUL bytes and report success."""
    problems = []
    if state["done"] and (task.output_format != "parquet" or state.get("converted")):
        out = task.output_path()
        if not out.exists():
            problems.append(f"{out} is missing")
        elif task.output_format == "jsonl" and out.stat().st_size != state["data_bytes"]:
            problems.append(f"{out} has {out.stat().st_size} bytes, the finished shard wrote {state['data_bytes']}")
    elif _size(task.data_path()) < state["data_bytes"]:
        problems.append(f"{task.data_path()} has {_size(task.data_path())} bytes (missing or cut), "
                        f"the checkpoint covers {state['data_bytes']}")
    if _size(task.rejects_path()) < state["rejects_bytes"]:
        problems.append(f"{task.rejects_path()} has {_size(task.rejects_path())} bytes (missing or cut), "
                        f"the checkpoint covers {state['rejects_bytes']}")
    if problems:
        raise BuildConfigError(
            f"{task.name!r} shard {task.shard} of {task.n_shards}: {'; '.join(problems)}. The shard's output was "
            f"changed after its checkpoint, so it cannot be resumed; rebuild the card with --force, or delete "
            f"{task.state_path()} to rebuild only this shard")


# builders that may run MolStrucTok (torch) per record
TORCH_BUILDERS = frozenset({"molecule", "conformer", "protein_ligand_complex"})


def _single_threaded_torch(builder_name: str) -> int | None:
    """A shard is one core's work (one shard per worker process or Ray task), so torch must not spread
    one small MolStrucTok forward pass over every core: on the loaded 2-core box the per-molecule encode
    ran at 37/s with torch's default 2 threads and 1,251/s with 1. Returns the previous setting."""
    if builder_name not in TORCH_BUILDERS:
        return None
    try:
        import torch
    except ImportError:
        return None
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    return previous


def _convert_to_parquet(task: ShardTask, state: dict) -> None:
    """The complete staging JSONL -> ``part-....parquet`` (column ``text``), streamed in fixed row groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = task.output_path()
    tmp = out.with_name(out.name + ".tmp")
    schema = pa.schema([("text", pa.string())])
    with pq.ParquetWriter(str(tmp), schema, compression="zstd", use_dictionary=False) as writer:
        batch: list[str] = []
        with open(task.data_path(), encoding="utf-8") as fh:
            for line in fh:
                batch.append(json.loads(line)["text"])
                if len(batch) == PARQUET_ROWS_PER_GROUP:
                    writer.write_table(pa.table({"text": batch}, schema=schema))
                    batch = []
        if batch:
            writer.write_table(pa.table({"text": batch}, schema=schema))
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, out)
    state["converted"] = True
    _atomic_write(task.state_path(), json.dumps(state, indent=1))
    task.data_path().unlink()  # the parquet file is the output now; the state says so


def _summary(task: ShardTask, state: dict) -> dict:
    out = task.output_path()
    return {
        "shard": task.shard,
        "file": out.name,
        "records": state["records"],
        "written": state["written"],
        "rejected": state["rejected"],
        "bytes": out.stat().st_size,
        "sha256": file_sha256(str(out)),
        "rejects_file": task.rejects_path().name,
    }


def _run_shard_star(args: tuple) -> dict:
    task, queue = args
    return run_shard(task, progress=(lambda n: queue.put(n)) if queue is not None else None)


# ---------------------------------------------------------------- a whole card

@dataclass
class BuildPlan:
    card: Any  # registry.Card
    files: list[str]
    checksums: list[dict]
    code: dict
    fingerprint: str
    tasks: list[ShardTask]
    side_tables: list[dict] = dataclasses_field(default_factory=list)


def plan_build(card, out_dir: str | Path, data_root: str | Path | None, n_shards: int,
               checkpoint_every: int = 1000, force: bool = False, stop_after: int | None = None,
               output_format: str = "jsonl") -> BuildPlan:
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output format {output_format!r} must be one of {', '.join(OUTPUT_FORMATS)}")
    out_dir = Path(out_dir)
    root = data_root if data_root is not None else os.environ.get("BIOMATRIX_DATA_ROOT", os.path.dirname(card.path))
    files = resolve_inputs(card.input_path, root)
    if not files:
        raise FileNotFoundError(f"{card.path}: input.path {card.input_path!r} matches no file under {root}")
    if n_shards < 1:
        raise ValueError("--shards must be at least 1")
    meta = out_dir / "_build" / card.name
    checksums = input_checksums(files, meta / "inputs.json")
    try:
        side_tables = side_table_checksums(card.data, root, meta / "side_tables.json")
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{card.path}: {exc}") from None
    code = code_version()
    fingerprint = build_fingerprint(card.data, checksums, n_shards, code, output_format, root, side_tables)
    # two cards whose output.file_name ends in the same folder would write (and --force delete) one folder
    for other in sorted(out_dir.glob("_build/*/manifest.json")):
        built = json.loads(other.read_text())
        if built.get("dataset") != card.name and built.get("output_folder", built.get("dataset")) == card.output_folder:
            raise BuildConfigError(f"{out_dir / card.output_folder} holds the build of card {built.get('dataset')!r}, "
                                   "whose output folder (last component of output.file_name) is the same; "
                                   "use another --out")
    if force and meta.exists():
        import shutil

        # the checksum caches (keyed by path, size and mtime) stay valid across builds: keep them rather
        # than hash every input a second time
        caches = {p.name: p.read_bytes() for p in (meta / "inputs.json", meta / "side_tables.json") if p.exists()}
        shutil.rmtree(meta)
        shutil.rmtree(out_dir / card.output_folder, ignore_errors=True)
        meta.mkdir(parents=True)
        for name, data in caches.items():
            (meta / name).write_bytes(data)
    elif (out_dir / card.output_folder).exists():
        stale = [p for p in (out_dir / card.output_folder).iterdir()
                 if not p.name.endswith((f"-of-{n_shards:05d}.{output_format}", f"-of-{n_shards:05d}.{output_format}.tmp"))]
        if stale:
            raise BuildConfigError(f"{out_dir / card.output_folder} holds files of a build with another shard count or "
                                   f"format ({stale[0].name}); use a fresh --out or --force")
    # with at least as many files as shards, a shard reads only its own files; otherwise every shard scans
    # all records and keeps every N-th (cheap: records are split, not parsed, before the ownership test)
    shard_by = "file" if len(files) >= n_shards > 1 else "record"
    tasks = [ShardTask(_resolve_param_paths(card.data, root), card.path, tuple(files), k, n_shards, str(out_dir),
                       fingerprint, checkpoint_every, stop_after, shard_by, output_format, str(root))
             for k in range(n_shards)]
    return BuildPlan(card, files, checksums, code, fingerprint, tasks, side_tables)


def _path_params() -> tuple[str, ...]:
    """Builder params naming files or folders (kind "path" in builders.BUILDERS), resolved like input.path."""
    from biomatrix_plugin.corpus.builders import BUILDERS

    return tuple(sorted({k for spec in BUILDERS.values() for k in spec.path_params()}))


def _resolve_param_paths(card_data: dict, root: str | Path) -> dict:
    import copy

    data = copy.deepcopy(card_data)
    params = (data.get("builder") or {}).get("params") or {}
    for key in _path_params():
        if isinstance(params.get(key), str) and not os.path.isabs(params[key]):
            params[key] = os.path.join(str(root), os.path.expandvars(params[key]))
    return data


def write_manifest(plan: BuildPlan, summaries: list[dict], engine: str, seconds: float) -> dict:
    summaries = sorted(summaries, key=lambda s: s["shard"])
    meta = Path(plan.tasks[0].out_dir) / "_build" / plan.card.name
    # one rejects file for people to read, in shard order
    with open(meta / "rejects.jsonl", "wb") as out:
        for t in plan.tasks:
            if t.rejects_path().exists():
                out.write(t.rejects_path().read_bytes())
    manifest = {
        "dataset": plan.card.name,
        "output_folder": plan.card.output_folder,
        "card": os.path.basename(plan.card.path),
        "category": plan.card.category,
        "subcategory": plan.card.data.get("subcategory"),
        "builder": plan.card.builder,
        "seed": plan.card.seed,
        "sampling_weight": plan.card.sampling_weight,
        "n_shards": len(plan.tasks),
        "shard_by": plan.tasks[0].shard_by,
        "fingerprint": plan.fingerprint,
        "code_version": plan.code,
        "inputs": [{"file": source_key(c["path"], plan.tasks[0].data_root), "size": c["size"], "sha256": c["sha256"]}
                   for c in plan.checksums],
        "side_tables": plan.side_tables,
        "shards": summaries,
        "totals": {k: sum(s[k] for s in summaries) for k in ("records", "written", "rejected", "bytes")},
        "engine": engine,
        "output_format": plan.tasks[0].output_format,
        "seconds_last_run": round(seconds, 3),
    }
    _atomic_write(meta / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))
    _update_out_dataset_info(Path(plan.tasks[0].out_dir), plan.card.name, plan.card.output_folder)
    return manifest


def _update_out_dataset_info(out_dir: Path, name: str, folder: str) -> None:
    """``DIR/dataset_info.json`` so that ``dataset_dir: DIR`` works for a freshly built corpus."""
    path = out_dir / "dataset_info.json"
    info = json.loads(path.read_text()) if path.exists() else {}
    info[name] = {"file_name": folder, "columns": {"prompt": "text"}}
    _atomic_write(path, json.dumps(dict(sorted(info.items())), indent=2))


def build_card(card, out_dir: str | Path, data_root: str | Path | None = None, n_shards: int = 1,
               workers: int = 1, checkpoint_every: int = 1000, force: bool = False, progress: bool = True,
               stop_after: int | None = None, output_format: str = "jsonl") -> dict:
    """Build every shard of one card with a local process pool; returns the manifest."""
    from tqdm import tqdm

    start = time.time()
    plan = plan_build(card, out_dir, data_root, n_shards, checkpoint_every, force, stop_after, output_format)
    bar = tqdm(desc=f"{card.name}", unit="rec", disable=not progress, dynamic_ncols=True)
    summaries: list[dict] = []
    try:
        if workers <= 1:
            for task in plan.tasks:
                summaries.append(run_shard(task, progress=bar.update))
        else:
            import multiprocessing as mp

            ctx = mp.get_context("spawn")  # fork + RDKit/torch threads is not safe
            with ctx.Manager() as manager:
                queue = manager.Queue()
                with ctx.Pool(min(workers, len(plan.tasks))) as pool:
                    pending = pool.map_async(_run_shard_star, [(t, queue) for t in plan.tasks], chunksize=1)
                    while not pending.ready():
                        pending.wait(0.2)
                        while not queue.empty():
                            bar.update(queue.get())
                    summaries = pending.get()
                    while not queue.empty():
                        bar.update(queue.get())
    finally:
        bar.close()
    return write_manifest(plan, summaries, f"local x{max(1, workers)}", time.time() - start)
