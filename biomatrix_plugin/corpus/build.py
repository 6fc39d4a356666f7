"""Sharded, streaming, resumable corpus builds.

Layout under ``--out DIR`` for a card named ``NAME`` with N shards (``FOLDER`` is the last component of the
card's ``output.file_name``, by default ``NAME``: building into ``data_registry/corpus`` gives the folder
that ``file_name: corpus/FOLDER`` in the registry's dataset_info.json points at)::

    DIR/FOLDER/part-00000-of-0000N.jsonl  training data only, complete shards only (LLaMA-Factory loads the
                                          whole folder; .parquet with --format parquet, see below)
    DIR/_build/NAME/part-00000-of-0000N.jsonl  a shard being built (staging; renamed into FOLDER when whole)
    DIR/_build/NAME/rejects-00000.jsonl   one JSON line per rejected record: source, position, reason
    DIR/_build/NAME/state-00000.json      checkpoint of a shard (records consumed, bytes written, sha256)
    DIR/_build/NAME/manifest.json         counts per shard, input and side-table checksums, seed, code version
    DIR/_build/.locks/FOLDER.lock         flock held by the build writing FOLDER (holds its pid)
    DIR/dataset_info.json                 LLaMA-Factory entries for every dataset built into DIR

With at least N input files, shard ``k`` builds files ``k, k+N, ...`` (sorted order); otherwise record
``g`` (counted across the input files) belongs to shard ``g % N``. A record's randomness is seeded by (seed,
card, file, position), the file named by its path relative to the data root (``records.source_key``, also
the ``source`` of a reject), so the output does not depend on the number of workers, on the engine (process
pool or Ray) or on where the data root is mounted. A shard checkpoints every ``checkpoint_every`` records;
after a kill it truncates its staging files to the last checkpoint and continues, which gives
byte-identical output because everything before the checkpoint is deterministic.

Output is committed the way Spark commits task output: a shard is written under ``_build/`` and renamed
into ``FOLDER`` only when complete, so the dataset folder holds whole shards or nothing. The finished
shard's sha256 is recorded in its state; a rerun verifies it, so a file changed after the build (a flipped
byte) is an error naming the shard, never silently re-recorded in the manifest. One build at a time writes
a folder (an exclusive ``flock``; a second build refuses naming the holder's pid), and pool workers die
with the build process (``PR_SET_PDEATHSIG`` on Linux, plus a parent-pid check between records), so a
``kill -9`` of the parent leaves no orphan writing beside the resumed build.

With ``output_format="parquet"`` the complete staging JSONL is converted in fixed-size row groups with
fixed writer settings into ``FOLDER/part-....parquet`` (atomic rename), the state records the conversion,
and the staging JSONL is deleted. A kill during conversion leaves the JSONL and an unconverted state, so
the rerun converts again and the parquet bytes are identical.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from dataclasses import field as dataclasses_field
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from biomatrix_plugin.corpus.compose import keyed_rng
from biomatrix_plugin.corpus.records import (
    RecordRejected,
    iter_records,
    parse_record,
    resolve_inputs,
    source_key,
)
from biomatrix_plugin.errors import BioMatrixError, ConfigError
from biomatrix_plugin.io import atomic_output, atomic_write, file_sha256

try:
    import fcntl
except ImportError:  # not POSIX: builds run without the output-folder lock
    fcntl = None  # type: ignore[assignment]

STATE_VERSION = 2  # 2: staging under _build/, the finished shard's sha256 and "committed"
OUTPUT_FORMATS = ("jsonl", "parquet")
PARQUET_ROWS_PER_GROUP = 4096  # fixed, so the same instances always give the same file


class BuildInterrupted(BioMatrixError, RuntimeError):
    """Raised by the ``stop_after`` test hook to simulate a killed worker."""


class BuildConfigError(ConfigError, RuntimeError):
    """An output directory already holds a build made with different settings (or one changed after it)."""


class BuildLockedError(BuildConfigError):
    """Another build is writing the same output folder right now."""


class ShardChangedError(BuildConfigError):
    """A finished shard's file no longer holds what the build wrote (size or sha256 differ)."""


class BuildOutputError(BioMatrixError, OSError):
    """The output cannot be written: disk full, no permission, ``--out`` is a file, ..."""


class MissingSideTableError(ConfigError, FileNotFoundError):
    """A builder param names a file or folder that does not exist."""


class CheckpointMissingError(ConfigError):
    """A card needs MolStrucTok but its checkpoint cannot be found (raised before the first record)."""


# ---------------------------------------------------------------- options

@dataclass(frozen=True, kw_only=True)
class BuildOptions:
    """How to build a card (the ``corpus build`` options); validated on construction."""

    out_dir: str | Path
    data_root: str | Path | None = None  # where input.path is resolved (default $BIOMATRIX_DATA_ROOT, card's folder)
    n_shards: int = 1
    workers: int | None = 1  # local processes, or Ray CPUs (None: Ray's default)
    checkpoint_every: int = 1000  # records between shard checkpoints
    force: bool = False  # discard an existing build of the card in out_dir
    progress: bool = True
    stop_after: int | None = None  # test hook: raise BuildInterrupted after this many records per shard
    output_format: str = "jsonl"

    def __post_init__(self) -> None:
        if self.output_format not in OUTPUT_FORMATS:
            raise ConfigError(f"output format {self.output_format!r} must be one of {', '.join(OUTPUT_FORMATS)}")
        for name in ("n_shards", "checkpoint_every") + (("workers",) if self.workers is not None else ()):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, not {value!r}")
        if self.stop_after is not None and self.stop_after < 0:
            raise ConfigError(f"stop_after must be >= 0, not {self.stop_after!r}")


@dataclass(frozen=True, kw_only=True)
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

    @property
    def stem(self) -> str:
        return f"part-{self.shard:05d}-of-{self.n_shards:05d}"

    def data_path(self) -> Path:
        """Where the shard writes (and resumes) its JSON lines until it is complete: under _build/, never in
        the dataset folder, which holds whole shards only (and one file type)."""
        return self.meta_dir() / f"{self.stem}.jsonl"

    def output_path(self) -> Path:
        return Path(self.out_dir) / self.folder / f"{self.stem}.{self.output_format}"

    def meta_dir(self) -> Path:
        return Path(self.out_dir) / "_build" / self.name

    def rejects_path(self) -> Path:
        return self.meta_dir() / f"rejects-{self.shard:05d}.jsonl"

    def state_path(self) -> Path:
        return self.meta_dir() / f"state-{self.shard:05d}.json"

    def where(self) -> str:
        return f"{self.name!r} shard {self.shard} of {self.n_shards}"


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
        with _writing(cache_path):
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(cache_path, json.dumps(out, indent=1))
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
            raise MissingSideTableError(f"builder.params.{key} {value!r} does not exist (paths are resolved under "
                                        f"the data root {root})")
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


# ---------------------------------------------------------------- writing, safely

@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """An OSError while writing ``path`` (disk full, no permission, a file where a folder must be) becomes
    one BuildOutputError naming it. Input problems are already BioMatrixErrors and pass through."""
    try:
        yield
    except BioMatrixError:
        raise
    except OSError as exc:
        raise BuildOutputError(f"{path}: cannot write the build output ({exc.strerror or exc})") from None


def _write_state(task: ShardTask, state: dict) -> None:
    with _writing(task.state_path()):
        atomic_write(task.state_path(), json.dumps(state, indent=1))


class _ShardFiles:
    """The staging data file and the rejects file of one shard, truncated to the last checkpoint so a
    resume replays what came after it identically."""

    def __init__(self, task: ShardTask, state: dict):
        self.task, self.state = task, state
        self.paths = (task.data_path(), task.rejects_path())
        self.handles: list[IO[bytes]] = []
        for path, size in zip(self.paths, (state["data_bytes"], state["rejects_bytes"])):
            with _writing(path):
                fh = open(path, "a+b")
                self.handles.append(fh)
                fh.truncate(size)
                fh.seek(0, os.SEEK_END)

    def write(self, which: int, data: bytes) -> None:
        try:
            self.handles[which].write(data)
        except OSError as exc:
            raise BuildOutputError(f"{self.paths[which]}: cannot write the build output "
                                   f"({exc.strerror or exc})") from None

    def checkpoint(self, done: bool = False) -> None:
        for path, fh in zip(self.paths, self.handles):
            with _writing(path):
                fh.flush()
                os.fsync(fh.fileno())
        self.state["data_bytes"] = self.handles[0].tell()
        self.state["rejects_bytes"] = self.handles[1].tell()
        self.state["done"] = done
        if done and self.task.output_format == "jsonl":
            # recorded before the rename into the dataset folder, so every later run can verify the file
            self.state["sha256"] = file_sha256(self.paths[0])
        _write_state(self.task, self.state)

    def close(self) -> None:
        """Close both files; a failing flush is an error unless an exception is already on its way."""
        pending = sys.exc_info()[1] is not None
        for path, fh in zip(self.paths, self.handles):
            try:
                fh.close()
            except OSError as exc:
                if not pending:
                    raise BuildOutputError(f"{path}: cannot write the build output ({exc.strerror or exc})") from None


# ---------------------------------------------------------------- one shard

def _instance_line(instance: dict) -> str:
    if not isinstance(instance, dict) or not isinstance(instance.get("text"), str):
        raise RecordRejected(f"builder returned {type(instance).__name__} without a 'text' string")
    if not instance["text"].strip():
        raise RecordRejected("builder produced an empty text")
    return json.dumps(instance, ensure_ascii=False) + "\n"


@dataclass
class _RecordBuilder:
    """Turns one raw record into its instance lines, or into the JSON line of its reject."""

    name: str
    builder_name: str
    builder: Callable
    params: dict
    fmt: str
    options: dict
    seed: int
    data_root: str | None
    keys: dict[str, str] = dataclasses_field(default_factory=dict)  # input path -> source_key

    @classmethod
    def for_task(cls, task: ShardTask) -> _RecordBuilder:
        from biomatrix_plugin.corpus.builders import resolve_builder

        card = task.card
        name = card["builder"]["name"]
        return cls(name=task.name, builder_name=name, builder=resolve_builder(name).function,
                   params=dict(card["builder"].get("params") or {}), fmt=card["input"]["format"],
                   options=dict(card["input"].get("options") or {}), seed=int(card.get("seed", 0)),
                   data_root=task.data_root)

    def __call__(self, rec) -> tuple[bytes | None, int, bytes | None]:
        """``(instance bytes, instance count, None)`` or ``(None, 0, reject line)``."""
        source = self.keys.get(rec.source)
        if source is None:  # once per input file: it costs more than a whole text record
            source = self.keys[rec.source] = source_key(rec.source, self.data_root)
        rng = keyed_rng(self.seed, self.name, source, rec.position)
        try:
            fields = parse_record(rec.raw, self.fmt, self.options)
            lines = [_instance_line(inst) for inst in self.builder(fields, rng, self.params)]
            if not lines:
                raise RecordRejected("builder produced no instance")
        except RecordRejected as exc:
            reason = str(exc)
        except ConfigError:
            raise  # a configuration that cannot work (a missing model file) stops the build, not one record
        except Exception as exc:  # a builder bug must not kill a day-long run; it shows in the rejects
            reason = f"internal error {type(exc).__name__}: {exc}"
        else:
            return "".join(lines).encode("utf-8"), len(lines), None
        entry = {"dataset": self.name, "source": source, "position": rec.position, "reason": reason}
        return None, 0, (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")


def run_shard(task: ShardTask, progress: Callable[[int], None] | None = None) -> dict:
    """Build (or finish) one shard; returns its summary. Safe to call again after a kill."""
    with _writing(task.meta_dir()):
        task.meta_dir().mkdir(parents=True, exist_ok=True)
        task.output_path().parent.mkdir(parents=True, exist_ok=True)
    state = _load_state(task)
    if not state["done"]:
        _build_records(task, state, progress)
    if not state.get("committed"):
        _commit(task, state)
    return _summary(task, state)


def _load_state(task: ShardTask) -> dict:
    """The shard's checkpoint (a fresh one when there is none), checked against the files it describes."""
    if not task.state_path().exists():
        return {"version": STATE_VERSION, "fingerprint": task.fingerprint, "consumed": 0, "data_bytes": 0,
                "rejects_bytes": 0, "written": 0, "rejected": 0, "records": 0, "done": False}
    state = json.loads(task.state_path().read_text())
    if state.get("fingerprint") != task.fingerprint:
        raise BuildConfigError(
            f"{task.state_path()}: this output directory holds a build of {task.name!r} with different "
            "settings (card, inputs, shard count or code); use a fresh --out or pass --force")
    _check_files_against_state(task, state)
    return state


def _build_records(task: ShardTask, state: dict, progress: Callable[[int], None] | None) -> None:
    build = _RecordBuilder.for_task(task)
    files = _ShardFiles(task, state)
    torch_threads = _single_threaded_torch(build.builder_name)
    try:
        _consume(task, state, build, files, progress)
    finally:
        files.close()
        if torch_threads is not None:
            import torch

            torch.set_num_threads(torch_threads)


def _consume(task: ShardTask, state: dict, build: _RecordBuilder, files: _ShardFiles,
             progress: Callable[[int], None] | None) -> None:
    since_report = processed_now = 0
    # the loop runs once per record (~10 us for a FASTA entry): names it uses are bound locally
    parent, getppid, write, every = _PARENT_PID, os.getppid, files.write, task.checkpoint_every
    skip, stop_after = state["consumed"], task.stop_after
    for local, rec in enumerate(task.owned_records(), 1):
        if local <= skip:
            continue
        if parent is not None and getppid() != parent:
            os._exit(1)  # the build process is gone (see _init_worker); the resume replays this shard
        if stop_after is not None and processed_now >= stop_after:
            raise BuildInterrupted(f"stopped after {processed_now} records (test hook)")
        data, n_instances, reject = build(rec)
        if data is not None:
            write(0, data)
            state["written"] += n_instances
        else:
            write(1, reject)
            state["rejected"] += 1
        state["records"] += 1
        state["consumed"] = local
        processed_now += 1
        since_report += 1
        if local % every == 0:
            files.checkpoint()
        if progress is not None and since_report >= 100:
            progress(since_report)
            since_report = 0
    files.checkpoint(done=True)
    if progress is not None and since_report:
        progress(since_report)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _check_files_against_state(task: ShardTask, state: dict) -> None:
    """Refuse to resume a shard whose files no longer hold what its checkpoint says they hold: truncating a
    deleted or shortened file "back" to the checkpoint would pad it with NUL bytes and report success, and
    re-hashing a changed finished shard would record the damage in the manifest as if it were the build."""
    if state["done"] and state.get("committed"):
        problems = _finished_shard_problems(task, state)
    elif state["done"] and task.output_format == "jsonl" and not task.data_path().exists():
        problems = _finished_shard_problems(task, state)  # killed between the rename and the state write
    elif _size(task.data_path()) < state["data_bytes"]:
        problems = [f"{task.data_path()} has {_size(task.data_path())} bytes (missing or cut), "
                    f"the checkpoint covers {state['data_bytes']}"]
    else:
        problems = []
    if _size(task.rejects_path()) < state["rejects_bytes"]:
        problems.append(f"{task.rejects_path()} has {_size(task.rejects_path())} bytes (missing or cut), "
                        f"the checkpoint covers {state['rejects_bytes']}")
    if problems:
        raise ShardChangedError(
            f"{task.where()}: {'; '.join(problems)}. The shard's output was changed after it was written, so "
            f"it cannot be resumed or reused; rebuild the card with --force, or delete {task.state_path()} "
            "to rebuild only this shard")


def _finished_shard_problems(task: ShardTask, state: dict) -> list[str]:
    out = task.output_path()
    if not out.exists():
        return [f"{out} is missing"]
    if task.output_format == "jsonl" and out.stat().st_size != state["data_bytes"]:
        return [f"{out} has {out.stat().st_size} bytes, the finished shard wrote {state['data_bytes']}"]
    digest = file_sha256(out)
    if digest != state.get("sha256"):
        return [f"{out} has sha256 {digest}, the finished shard wrote {state.get('sha256')}"]
    return []


def _commit(task: ShardTask, state: dict) -> None:
    """Put the complete shard into the dataset folder in one rename (JSONL) or one converted file
    (parquet), then record that in the state."""
    if task.output_format == "parquet":
        _convert_to_parquet(task, state)
        return
    if task.data_path().exists():  # else the rename happened and only the state write was lost (verified)
        with _writing(task.output_path()):
            os.replace(task.data_path(), task.output_path())
    state["committed"] = True
    _write_state(task, state)


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
    """The complete staging JSONL -> ``part-....parquet`` (column ``text``), streamed in fixed row groups.
    Written whole under _build/ first, so the dataset folder never holds a partial parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = task.output_path()
    staged = task.meta_dir() / out.name
    schema = pa.schema([("text", pa.string())])
    with _writing(staged), atomic_output(staged, "wb") as fh:
        with pq.ParquetWriter(fh, schema, compression="zstd", use_dictionary=False) as writer:
            batch: list[str] = []
            with open(task.data_path(), encoding="utf-8") as lines:
                for line in lines:
                    batch.append(json.loads(line)["text"])
                    if len(batch) == PARQUET_ROWS_PER_GROUP:
                        writer.write_table(pa.table({"text": batch}, schema=schema))
                        batch = []
            if batch:
                writer.write_table(pa.table({"text": batch}, schema=schema))
    state["sha256"] = file_sha256(staged)
    with _writing(out):
        os.replace(staged, out)
    state["committed"] = True
    _write_state(task, state)
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
        "sha256": state["sha256"],  # recorded when the shard was written, verified on every rerun
        "rejects_file": task.rejects_path().name,
    }


# ---------------------------------------------------------------- process pool workers

_PARENT_PID: int | None = None  # set in pool workers: the build process they belong to
_PROGRESS_QUEUE = None
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _init_worker(parent_pid: int, queue) -> None:
    """Pool initializer: the worker gets SIGKILL when the build process dies (``kill -9`` by a scheduler
    must not leave orphans writing beside the resumed build). Parent-death signals are Linux only, and the
    parent may have died before this ran, so workers also compare their parent pid between records."""
    global _PARENT_PID, _PROGRESS_QUEUE
    _PARENT_PID, _PROGRESS_QUEUE = parent_pid, queue
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    _exit_if_orphaned()


def _exit_if_orphaned() -> None:
    if _PARENT_PID is not None and os.getppid() != _PARENT_PID:
        os._exit(1)  # the build is gone; what this shard wrote after its checkpoint is replayed on resume


def _pool_shard(task: ShardTask) -> dict:
    queue = _PROGRESS_QUEUE
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
    data_root: str = ""

    @property
    def out_dir(self) -> Path:
        return Path(self.tasks[0].out_dir)

    @property
    def meta_dir(self) -> Path:
        return self.out_dir / "_build" / self.card.name


def plan_build(card, options: BuildOptions) -> BuildPlan:
    """Resolve inputs, hash them (and the side tables and code), check what ``out_dir`` already holds
    (discarding it with ``force``) and cut the card into shard tasks."""
    out_dir = Path(options.out_dir)
    root = options.data_root if options.data_root is not None else \
        os.environ.get("BIOMATRIX_DATA_ROOT", os.path.dirname(card.path))
    files = resolve_inputs(card.input_path, root, where=card.path)
    meta = out_dir / "_build" / card.name
    checksums = input_checksums(files, meta / "inputs.json")
    try:
        side_tables = side_table_checksums(card.data, root, meta / "side_tables.json")
    except MissingSideTableError as exc:
        raise MissingSideTableError(f"{card.path}: {exc}") from None
    code = code_version()
    fingerprint = build_fingerprint(card.data, checksums, options.n_shards, code, options.output_format, root,
                                    side_tables)
    _refuse_a_folder_of_another_card(card, out_dir)
    if options.force:
        _discard_previous_build(card, out_dir)
    else:
        _refuse_stale_files(card, out_dir, options)
    # with at least as many files as shards, a shard reads only its own files; otherwise every shard scans
    # all records and keeps every N-th (cheap: records are split, not parsed, before the ownership test)
    shard_by = "file" if len(files) >= options.n_shards > 1 else "record"
    card_data = _resolve_param_paths(card.data, root)
    tasks = [ShardTask(card=card_data, card_path=card.path, files=tuple(files), shard=k, n_shards=options.n_shards,
                       out_dir=str(out_dir), fingerprint=fingerprint, checkpoint_every=options.checkpoint_every,
                       stop_after=options.stop_after, shard_by=shard_by, output_format=options.output_format,
                       data_root=str(root))
             for k in range(options.n_shards)]
    return BuildPlan(card, files, checksums, code, fingerprint, tasks, side_tables, str(root))


def _refuse_a_folder_of_another_card(card, out_dir: Path) -> None:
    """Two cards whose output.file_name ends in the same folder would write (and --force delete) one folder."""
    for other in sorted(out_dir.glob("_build/*/manifest.json")):
        built = json.loads(other.read_text())
        if built.get("dataset") != card.name and built.get("output_folder", built.get("dataset")) == card.output_folder:
            raise BuildConfigError(f"{out_dir / card.output_folder} holds the build of card {built.get('dataset')!r}, "
                                   "whose output folder (last component of output.file_name) is the same; "
                                   "use another --out")


def _discard_previous_build(card, out_dir: Path) -> None:
    import shutil

    meta = out_dir / "_build" / card.name
    if not meta.exists():
        return
    # the checksum caches (keyed by path, size and mtime) stay valid across builds: keep them rather
    # than hash every input a second time
    caches = {p.name: p.read_bytes() for p in (meta / "inputs.json", meta / "side_tables.json") if p.exists()}
    with _writing(meta):
        shutil.rmtree(meta)
        shutil.rmtree(out_dir / card.output_folder, ignore_errors=True)
        meta.mkdir(parents=True)
        for name, data in caches.items():
            (meta / name).write_bytes(data)


def _refuse_stale_files(card, out_dir: Path, options: BuildOptions) -> None:
    folder = out_dir / card.output_folder
    if not folder.exists():
        return
    suffix = f"-of-{options.n_shards:05d}.{options.output_format}"
    stale = [p for p in folder.iterdir() if not p.name.endswith(suffix)]
    if stale:
        raise BuildConfigError(f"{folder} holds files of a build with another shard count or format "
                               f"({stale[0].name}); use a fresh --out or --force")


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
    meta = plan.meta_dir
    with _writing(meta / "rejects.jsonl"), atomic_output(meta / "rejects.jsonl", "wb") as out:
        for t in plan.tasks:  # one rejects file for people to read, in shard order
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
    with _writing(meta / "manifest.json"):
        atomic_write(meta / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))
    _update_out_dataset_info(plan.out_dir, plan.card.name, plan.card.output_folder)
    return manifest


def _update_out_dataset_info(out_dir: Path, name: str, folder: str) -> None:
    """``DIR/dataset_info.json`` so that ``dataset_dir: DIR`` works for a freshly built corpus. Builds of
    other cards into DIR may finish at the same moment: the read-modify-write runs under a lock."""
    path = out_dir / "dataset_info.json"
    with _flock(out_dir / "_build" / ".locks" / "dataset_info.lock", wait=True), _writing(path):
        info = json.loads(path.read_text()) if path.exists() else {}
        info[name] = {"file_name": folder, "columns": {"prompt": "text"}}
        atomic_write(path, json.dumps(dict(sorted(info.items())), indent=2))


# ---------------------------------------------------------------- one build per output folder

@contextlib.contextmanager
def _flock(path: Path, wait: bool) -> Iterator[IO[str] | None]:
    """An exclusive ``flock`` on ``path`` (created; never deleted, which would let two processes lock two
    different files). Yields the open file, or None when it is held elsewhere and ``wait`` is False."""
    if fcntl is None:  # not POSIX: no locking
        yield None
        return
    with _writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield None
            return
        yield fh
    finally:
        fh.close()  # releases the lock


@contextlib.contextmanager
def build_lock(out_dir: str | Path, folder: str) -> Iterator[None]:
    """Hold the output folder for one build; a second build of it refuses, naming the holder's pid. The
    lock lives with the process (flock): a killed build releases it, and its pool workers die with it."""
    path = Path(out_dir) / "_build" / ".locks" / f"{folder}.lock"
    with _flock(path, wait=False) as fh:
        if fh is None and fcntl is not None:
            raise BuildLockedError(f"{Path(out_dir) / folder} is being built by another process "
                                   f"(pid {_lock_holder(path)}, lock {path}); wait for it to finish or stop it")
        if fh is not None:
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
        yield


def _lock_holder(path: Path) -> str:
    # the holder writes its pid right after taking the lock; give it a moment
    for _ in range(20):
        text = path.read_text(encoding="utf-8").strip()
        if text:
            return text
        time.sleep(0.05)
    return "unknown"


# ---------------------------------------------------------------- checks before the first record

# builders that encode a 3D molecule with MolStrucTok, and their 3D view's probability when the card's
# params set no `views` (molecules.build_molecule merges a card's views over DEFAULT_VIEW_PROBS)
_MOL3D_VIEW_DEFAULTS = {"molecule": None, "molecule_text": 0.0, "conformer": 1.0}
_MOL3D_ALWAYS = frozenset({"protein_ligand_complex"})  # the ligand pose is always encoded
# input formats whose records can carry a 3D molfile block (a CSV/TSV/SMI row holds SMILES only)
_FORMATS_WITH_3D = frozenset({"sdf", "jsonl", "parquet"})


def needs_mol3d_checkpoint(card_data: dict) -> bool:
    """Whether a build of this card may run MolStrucTok: decided from the builder and its views, so a
    missing checkpoint stops the build before the first record instead of filing a reject per molecule."""
    builder = card_data["builder"]["name"]
    params = card_data["builder"].get("params") or {}
    if builder in _MOL3D_ALWAYS:
        return True
    if builder not in _MOL3D_VIEW_DEFAULTS or card_data["input"]["format"] not in _FORMATS_WITH_3D:
        return False
    from biomatrix_plugin.corpus.molecules import DEFAULT_VIEW_PROBS

    views = params.get("views")
    if views is None and _MOL3D_VIEW_DEFAULTS[builder] is not None:
        views = {"mol3d": _MOL3D_VIEW_DEFAULTS[builder]}
    required = builder == "conformer" or "mol3d" in (params.get("require") or [])
    return required or float({**DEFAULT_VIEW_PROBS, **(views or {})}.get("mol3d", 0)) > 0


def require_models(card) -> None:
    """Stop before anything is written when the card needs a model file that is not there."""
    if not needs_mol3d_checkpoint(card.data):
        return
    try:
        from biomatrix_plugin.mol3d.checkpoint import require_checkpoint
    except ImportError:  # older mol3d: default_checkpoint() raises Mol3DError with the same information
        from biomatrix_plugin.mol3d.tokenizer import default_checkpoint as require_checkpoint
    from biomatrix_plugin.mol3d.errors import Mol3DError

    try:
        require_checkpoint()
    except (ConfigError, Mol3DError) as exc:
        raise CheckpointMissingError(f"{card.path}: the card's 3D molecule view needs MolStrucTok: {exc}") from None


# ---------------------------------------------------------------- engines

Runner = Callable[[BuildPlan, BuildOptions], tuple[list[dict], str]]


def build(card, options: BuildOptions, runner: Runner | None = None) -> dict:
    """Build every shard of one card (``runner``: the local process pool by default, or the Ray engine);
    returns the manifest. Holds the output folder's lock throughout."""
    start = time.time()
    require_models(card)
    _check_out_dir(Path(options.out_dir))
    with build_lock(options.out_dir, card.output_folder):
        plan = plan_build(card, options)
        summaries, engine = (runner or run_local)(plan, options)
        return write_manifest(plan, summaries, engine, time.time() - start)


def build_card(card, out_dir: str | Path, **settings: Any) -> dict:
    """Build one card into ``out_dir`` with the local engine; ``settings`` are :class:`BuildOptions` fields
    (keywords only: ``n_shards``, ``workers``, ``checkpoint_every``, ``force``, ``output_format``, ...)."""
    return build(card, BuildOptions(out_dir=out_dir, **settings))


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise BuildOutputError(f"--out {out_dir}: is a file, not a folder")
    with _writing(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise BuildOutputError(f"--out {out_dir}: cannot write the build output (permission denied)")


def run_local(plan: BuildPlan, options: BuildOptions) -> tuple[list[dict], str]:
    """Every shard in this process (one worker) or in a spawned process pool."""
    from tqdm import tqdm

    workers = options.workers or 1
    bar = tqdm(desc=plan.card.name, unit="rec", disable=not options.progress, dynamic_ncols=True)
    try:
        if workers <= 1:
            summaries = [run_shard(task, progress=bar.update) for task in plan.tasks]
        else:
            summaries = _run_pool(plan.tasks, min(workers, len(plan.tasks)), bar.update)
    finally:
        bar.close()
    return summaries, f"local x{workers}"


def _run_pool(tasks: list[ShardTask], workers: int, progress: Callable[[int], None]) -> list[dict]:
    import multiprocessing as mp
    import queue as queue_module

    ctx = mp.get_context("spawn")  # fork + RDKit/torch threads is not safe
    queue = ctx.Queue()

    def drain() -> None:
        with contextlib.suppress(queue_module.Empty):
            while True:
                progress(queue.get_nowait())

    with ctx.Pool(workers, initializer=_init_worker, initargs=(os.getpid(), queue)) as pool:
        pending = pool.map_async(_pool_shard, tasks, chunksize=1)
        while not pending.ready():
            pending.wait(0.2)
            drain()
        summaries = pending.get()
    drain()
    return summaries
