"""``biomatrix eval run``: a task's built test split -> generations -> read-out answers -> the task's metrics
-> one results file per task/variant that ``biomatrix eval report`` reads.

Everything a step needs comes from the task file (:mod:`biomatrix_plugin.tasks`): the decoding
(``eval.decoding``), the read-out (``eval.readout``, :mod:`biomatrix_plugin.eval.readout`), the metrics and
their options (``eval.metrics``; ``"{variant}"`` in an option value is the variant) and ``report_as``.
Prompts are the test rows' ``instruction`` + ``input`` through :func:`~biomatrix_plugin.eval.generation.build_messages`
and the model's chat template, as in training.

Layout under ``--out``::

    OUT/<task>/<variant>/results.jsonl          one metric result a line (the `eval report` format)
    OUT/<task>/<variant>/predictions.jsonl.gz   per test row: generation, read-out answer, references, reason
    OUT/_cache/<task>/<variant>/<shard>.cache   the generation cache (JSONL; see below)

``eval report`` reads every ``*.json``/``*.jsonl`` under OUT as a result, so the cache and the predictions
use other suffixes.

The cache: one JSON line per generated prompt, ``{"key", "texts", ...}``, where ``key`` is the sha256 of the
chat messages, the decoding config, the backend and the model's identity (:func:`model_identity`: hashes of
its config/tokenizer files and of the head and tail of each weight file, not its path, so a copy on
another node has the same identity). Lines are appended and fsynced after every batch, so a killed run
keeps what it generated and the rerun generates only the rest; a torn last line is ignored. ``--shard i/N``
generates only the prompts whose key falls in shard i (stable: ``int(key) mod N``) into its own cache
file; ``--merge`` generates nothing and scores the union of every cache file of the task/variant (an error
names what is missing). The results are written whole (io.atomic_write) only after scoring.

Scoring: every test row counts (the benchmark's denominator), each against every gold of its input (the
build pools them into ``references``); metrics whose spec says ``reference="first"`` (numbers,
the side information of a design metric) take the row's first gold. Paired metrics read the
first sample; set metrics every sample.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import math
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from biomatrix_plugin.errors import BioMatrixError, ConfigError, InputFileError
from biomatrix_plugin.eval.generation import DecodingConfig, GenerationBackend, build_messages
from biomatrix_plugin.eval.readout import ReadoutSpec, read_out
from biomatrix_plugin.eval.registry import compute, get_metric
from biomatrix_plugin.io import atomic_output, atomic_write, file_sha256, iter_jsonl
from biomatrix_plugin.tasks.spec import Task

CACHE_DIR = "_cache"
CACHE_SUFFIX = ".cache"
RESULTS_FILE = "results.jsonl"
PREDICTIONS_FILE = "predictions.jsonl.gz"
CACHE_VERSION = 1
# small files that decide what a model generates (weights are fingerprinted by head and tail, see below)
IDENTITY_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                  "special_tokens_map.json", "added_tokens.json", "chat_template.jinja", "vocab.json", "merges.txt")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
_EDGE = 1 << 20  # bytes hashed at each end of a weight file
# hf: one padded generate() per batch; vllm schedules its own batches, so a call gets many prompts (the
# chunk only sets how much a kill can lose)
DEFAULT_BATCH = {"hf": 8, "vllm": 512}


class EvalRunError(ConfigError):
    """``eval run`` cannot run as asked (data not built, a shard missing for --merge, a cache in use)."""


@dataclass(frozen=True)
class RunOptions:
    model: Path
    data_dir: Path
    out_dir: Path
    backend: str = "hf"
    variants: tuple[str, ...] | None = None  # None: every variant of each task
    limit: int | None = None  # first N test rows of each task/variant
    shard: tuple[int, int] | None = None  # (i, N), 1 <= i <= N: generate only shard i, score nothing
    merge: bool = False  # generate nothing, score the union of the shard caches
    batch_size: int | None = None  # prompts per backend call (= per cache flush); None: DEFAULT_BATCH[backend]
    device: str | None = None
    tasks_dir: str | None = None  # only for the messages (the `tasks build` command to print)
    # a cap on every task's max_new_tokens (smoke runs of the whole suite on a small model): part of the
    # decoding config, so of the cache key and the results' run record
    max_new_tokens: int | None = None
    max_samples: int | None = None  # likewise a cap on the samples per prompt (decoding.n) of sampled tasks

    def __post_init__(self) -> None:
        if self.shard is not None:
            i, n = self.shard
            if not 1 <= i <= n:
                raise EvalRunError(f"--shard {i}/{n}: i must be in 1..{n}")
        if self.shard is not None and self.merge:
            raise EvalRunError("--shard generates one shard, --merge scores the union of all: give one of them")

    @property
    def chunk(self) -> int:
        return self.batch_size or DEFAULT_BATCH.get(self.backend, 8)


@dataclass
class Item:
    """One task/variant to evaluate: its test rows, decoding, read-out and metrics."""

    task: Task
    variant: str
    test_path: Path
    rows: list[dict] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.task.id}/{self.variant}"

    @property
    def eval(self) -> dict:
        return self.task.data["eval"]


# ---------------------------------------------------------------- planning and checks (before any generation)

def plan(tasks: Sequence[Task], opts: RunOptions) -> list[Item]:
    """The task/variants to run; every missing test split is reported together, with the build command."""
    items, missing = [], []
    for task in tasks:
        if task.training_only or "eval" not in task.data:
            continue
        variants = [v for v in task.variants if opts.variants is None or v in opts.variants]
        for variant in variants:
            path = opts.data_dir / task.id / variant / "test.jsonl"
            (items if path.is_file() else missing).append(Item(task, variant, path))
    if missing:
        raise EvalRunError(_missing_message(missing, opts))
    if not items:
        wanted = ", ".join(opts.variants or ())
        raise EvalRunError(f"nothing to evaluate: no evaluated task among {', '.join(t.id for t in tasks)}"
                           + (f" has the variant(s) {wanted}" if wanted else ""))
    for item in items:
        check_metrics(item)
    return items


def _missing_message(missing: list[Item], opts: RunOptions) -> str:
    tasks = list(dict.fromkeys(i.task.id for i in missing))
    variants = sorted({i.variant for i in missing})
    where = "; ".join(f"{i.name} (no {i.test_path})" for i in missing)
    group = f" --tasks-dir {opts.tasks_dir}" if opts.tasks_dir else ""
    variant = f" --variant {variants[0]}" if len(variants) == 1 else ""
    commands = " ; ".join(f"biomatrix tasks{group} build {t} --raw RAW_ROOT --out {opts.data_dir}{variant}"
                          for t in tasks)
    return f"no built test split for {', '.join(tasks)}: {where}. Build it with: {commands}"


def metric_options(metric: dict, variant: str) -> dict[str, Any]:
    """The task file's options of one metric, ``"{variant}"`` replaced by the variant."""
    return {k: (v.replace("{variant}", variant) if isinstance(v, str) else v)
            for k, v in (metric.get("options") or {}).items()}


def check_metrics(item: Item) -> None:
    """Metric names and options are real, and a metric's side inputs exist, before anything is generated."""
    for metric in item.eval["metrics"]:
        where = f"task {item.task.id} ({item.task.path}) eval.metrics {metric['name']}"
        try:
            spec = get_metric(metric["name"])
            spec.parse_options(metric_options(metric, item.variant))
        except BioMatrixError as exc:  # unknown metric, bad option (EvalInputError)
            raise EvalRunError(f"{where}: {exc}") from None
        if spec.needs_train:
            side_train_path(item)


def side_train_path(item: Item) -> Path:
    """The training set a metric such as novelty needs: ``eval.side_inputs.train: train`` is the task's built
    train split (its responses, read out like the answers)."""
    value = (item.eval.get("side_inputs") or {}).get("train")
    if value != "train":
        raise EvalRunError(f"task {item.task.id}: a metric needs a training set; set eval.side_inputs.train: "
                           f"train (the built train split){'' if value is None else f', not {value!r}'}")
    path = item.test_path.with_name("train.jsonl")
    if not path.is_file():
        raise EvalRunError(f"task {item.task.id}: no built train split {path} (the novelty side input)")
    return path


def decoding_config(task: Task, max_new_tokens: int | None = None, max_samples: int | None = None) -> DecodingConfig:
    d = task.data["eval"]["decoding"]
    tokens = d["max_new_tokens"] if max_new_tokens is None else min(d["max_new_tokens"], max_new_tokens)
    if d["mode"] == "greedy":
        return DecodingConfig.greedy(tokens)
    n = d.get("n", 1) if max_samples is None else min(d.get("n", 1), max_samples)
    return DecodingConfig.sample(d["temperature"], n=n, max_new_tokens=tokens, top_p=d.get("top_p", 1.0))


def read_rows(path: Path, limit: int | None) -> list[dict]:
    rows = []
    for number, value, error in iter_jsonl(path):
        if error or not isinstance(value, dict) or not isinstance(value.get("instruction"), str) \
                or not isinstance(value.get("references"), list):
            why = error or "not a test row (instruction, input, references)"
            raise InputFileError(f"{path}:{number}: {why}; rebuild it with `biomatrix tasks build`")
        rows.append(value)
        if limit is not None and len(rows) >= limit:
            break
    if not rows:
        raise InputFileError(f"{path}: no test rows; rebuild it with `biomatrix tasks build`")
    return rows


# ---------------------------------------------------------------- identity, keys, shards

def _edges_sha256(path: Path) -> str:
    h = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as fh:
        h.update(fh.read(_EDGE))
        if size > 2 * _EDGE:
            fh.seek(size - _EDGE)
            h.update(fh.read(_EDGE))
    return f"{size}:{h.hexdigest()}"


def model_identity(model_dir: Path) -> str:
    """sha256 over the model's config/tokenizer files and each weight file's size and head+tail bytes.

    Hashing multi-GB weights whole would cost minutes per run; a retrained or re-converted checkpoint changes
    its first and last megabyte (header offsets, the last tensors) and usually its size."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise EvalRunError(f"--model {model_dir}: not a Hugging Face model directory (no config.json)")
    parts = []
    for name in IDENTITY_FILES:
        path = model_dir / name
        if path.is_file():
            parts.append(f"{name}={file_sha256(path)}")
    for path in sorted(model_dir.iterdir()):
        if path.is_file() and path.suffix in WEIGHT_SUFFIXES:
            parts.append(f"{path.name}={_edges_sha256(path)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def prompt_key(messages: list[dict], config: DecodingConfig, model_id: str, backend: str,
               draw: Any = None) -> str:
    """The cache key of one generation. ``draw`` (the test row's id) is given when sampling: rows that
    repeat one prompt (an unconditional generation task asks the same thing 10,000 times) are independent
    samples, not one cached answer; greedy rows with one prompt share their (identical) generation."""
    payload = {"v": CACHE_VERSION, "messages": messages, "decoding": asdict(config), "model": model_id,
               "backend": backend}
    if draw is not None:
        payload["draw"] = draw
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def batch_config(config: DecodingConfig, first_key: str) -> DecodingConfig:
    """The decoding config of one backend call: when sampling, its seed is derived from the task's seed and
    the batch's first key, so batches that hold the same prompts draw different samples, and a resumed run
    (whose batches start elsewhere) does not replay the streams of the cached ones."""
    if not config.do_sample or config.seed is None:
        return config
    derived = int(hashlib.sha256(f"{config.seed}:{first_key}".encode()).hexdigest()[:8], 16) & 0x7FFFFFFF
    return replace(config, seed=derived)


def shard_of(key: str, n_shards: int) -> int:
    """0-based shard of a prompt key (stable: depends on the key only)."""
    return int(key[:16], 16) % n_shards


def row_messages(row: dict) -> list[dict]:
    return build_messages(row["instruction"], row.get("input") or None, row.get("system"))


# ---------------------------------------------------------------- the generation cache

class GenerationCache:
    """The cache files of one task/variant: read all of them, append to one (this run's shard)."""

    def __init__(self, folder: Path, shard: tuple[int, int] | None):
        self.folder = folder
        self.own = folder / (f"shard-{shard[0]}-of-{shard[1]}{CACHE_SUFFIX}" if shard else f"all{CACHE_SUFFIX}")
        self.entries: dict[str, list[str]] = {}
        self.torn = 0  # lines that are not a whole entry (a kill mid-write)

    def load(self) -> "GenerationCache":
        if not self.folder.is_dir():
            return self
        for path in sorted(self.folder.glob(f"*{CACHE_SUFFIX}")):
            for _, value, error in iter_jsonl(path):
                if error or not isinstance(value, dict) or not isinstance(value.get("texts"), list) \
                        or not isinstance(value.get("key"), str):
                    self.torn += 1
                    continue
                self.entries.setdefault(value["key"], value["texts"])
        return self

    @contextlib.contextmanager
    def writer(self):
        """Append handle on this run's cache file, held exclusively (two runs never write one file)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.own, "a+", encoding="utf-8") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise EvalRunError(f"{self.own}: another `eval run` is writing this cache (same --out and "
                                   "shard); wait for it or use another --shard") from None
            fh.seek(0, os.SEEK_END)
            if fh.tell() > 0:
                fh.seek(fh.tell() - 1)
                if fh.read(1) != "\n":
                    fh.write("\n")  # a torn last line stays torn, the next entry starts on its own line
            yield fh

    def append(self, fh, entries: Iterable[dict]) -> None:
        for entry in entries:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self.entries[entry["key"]] = entry["texts"]
        fh.flush()
        os.fsync(fh.fileno())


# ---------------------------------------------------------------- generation

@dataclass
class GenerationStats:
    prompts: int = 0  # distinct prompts of the task/variant (all shards)
    in_shard: int = 0
    cached: int = 0
    generated: int = 0
    seconds: float = 0.0


def generate_missing(item: Item, cache: GenerationCache, config: DecodingConfig, opts: RunOptions,
                     get_backend: Callable[[], GenerationBackend]) -> GenerationStats:
    """Generate the prompts of this shard that no cache file holds, one batch per backend call."""
    messages = {}
    for row, key in zip(item.rows, item.keys):
        messages.setdefault(key, row_messages(row))
    stats = GenerationStats(prompts=len(messages))
    mine = [k for k in messages if opts.shard is None or shard_of(k, opts.shard[1]) == opts.shard[0] - 1]
    todo = [k for k in mine if k not in cache.entries]
    stats.in_shard, stats.cached = len(mine), len(mine) - len(todo)
    if not todo:
        return stats
    backend = get_backend()
    start = time.perf_counter()
    with cache.writer() as fh:
        for at in range(0, len(todo), opts.chunk):
            batch = todo[at:at + opts.chunk]
            outs = backend.generate([messages[k] for k in batch], batch_config(config, batch[0]))
            if len(outs) != len(batch):
                raise RuntimeError(f"backend returned {len(outs)} generations for {len(batch)} prompts")
            cache.append(fh, ({"key": k, "texts": list(g.texts), "task": item.task.id, "variant": item.variant,
                               "prompt": messages[k][-1]["content"]} for k, g in zip(batch, outs)))
            stats.generated += len(batch)
            # progress on stderr: stdout carries the JSON summaries `eval run` prints
            print(f"{item.name}: generated {stats.generated}/{len(todo)}", file=sys.stderr, flush=True)
    stats.seconds = time.perf_counter() - start
    return stats


# ---------------------------------------------------------------- scoring

@dataclass
class Scored:
    results: list[dict]
    predictions: list[dict]
    unreadable: Counter
    seconds: float


def _first(refs: list) -> Any:
    return refs[0] if refs else None


def _metric_inputs(spec, name: str, answers: list, all_answers: list, rows: list[dict]):
    """(predictions, references) in the shape the metric's kind takes."""
    if spec.inputs == "paired":
        refs = [_first(r["references"]) if spec.reference == "first" else r["references"] for r in rows]
        return answers, refs
    if spec.inputs == "set":
        return all_answers, None
    distinct = {json.dumps(_first(r["references"]), sort_keys=True): _first(r["references"]) for r in rows}
    return all_answers, list(distinct.values())


def _train_answers(item: Item, readout: ReadoutSpec) -> list:
    path = side_train_path(item)
    out = []
    for number, value, error in iter_jsonl(path):
        if error or not isinstance(value, dict) or not isinstance(value.get("output"), str):
            raise InputFileError(f"{path}:{number}: {error or 'not a train row (output)'}")
        out.append(read_out(value["output"], readout).value)
    return out


def _json_safe(options: dict) -> dict:
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in options.items()}


def score(item: Item, cache: GenerationCache, run_info: dict) -> Scored:
    """Read every row's answer out and compute each of the task's metrics."""
    start = time.perf_counter()
    readout = ReadoutSpec.for_task(item.task.data, item.variant)
    answers, all_answers, predictions, unreadable = [], [], [], Counter()
    for row, key in zip(item.rows, item.keys):
        texts = cache.entries[key]
        outs = [read_out(t, readout) for t in texts] or [read_out("", readout)]
        unreadable.update(o.reason for o in outs if o.reason)
        answers.append(outs[0].value)
        all_answers.extend(o.value for o in outs)
        predictions.append({"id": row.get("id"), "key": key, "texts": texts, "answers": [o.value for o in outs],
                            "reasons": [o.reason for o in outs], "references": row["references"]})
    train = None
    results = []
    for metric in item.eval["metrics"]:
        name = metric["name"]
        spec = get_metric(name)
        options = metric_options(metric, item.variant)
        preds, refs = _metric_inputs(spec, name, answers, all_answers, item.rows)
        if spec.needs_train and train is None:
            train = _train_answers(item, readout)
        result = compute(name, preds, refs, train if spec.needs_train else None, **options).to_dict()
        result.update(task=item.task.id, variant=item.variant)
        if metric.get("report_as"):
            result["report_as"] = metric["report_as"]
        result["options"] = _json_safe(spec.parse_options(options))
        result["readout"] = {"kind": readout.kind, "unreadable": sum(unreadable.values()),
                             "reasons": dict(unreadable)}
        result["run"] = run_info
        results.append(result)
    return Scored(results, predictions, unreadable, time.perf_counter() - start)


def write_outputs(item: Item, scored: Scored, out_dir: Path) -> Path:
    folder = out_dir / item.task.id / item.variant
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_output(folder / PREDICTIONS_FILE, "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for pred in scored.predictions:
            gz.write((json.dumps(pred, ensure_ascii=False) + "\n").encode("utf-8"))
    path = folder / RESULTS_FILE
    atomic_write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in scored.results))
    return path


# ---------------------------------------------------------------- the run

def _missing_for_merge(item: Item, cache: GenerationCache) -> str | None:
    missing = {k for k in item.keys if k not in cache.entries}
    if not missing:
        return None
    files = ", ".join(p.name for p in sorted(cache.folder.glob(f"*{CACHE_SUFFIX}"))) or "none"
    return (f"{item.name}: {len(missing)} of {len(set(item.keys))} prompts have no generation in "
            f"{cache.folder} (cache files: {files})")


def run_eval(tasks: Sequence[Task], opts: RunOptions,
             backend_factory: Callable[[], GenerationBackend] | None = None) -> list[dict]:
    """Run every task/variant; returns one summary per task/variant (and writes results unless --shard)."""
    items = plan(tasks, opts)
    model_id = model_identity(opts.model)
    backend_holder: list[GenerationBackend] = []

    def get_backend() -> GenerationBackend:  # loaded only when something is left to generate
        if not backend_holder:
            if backend_factory is not None:
                backend_holder.append(backend_factory())
            else:
                from biomatrix_plugin.eval.generation import load_backend

                backend_holder.append(load_backend(opts.backend, opts.model, device=opts.device,
                                                   batch_size=opts.chunk))
        return backend_holder[0]

    prepared = []
    for item in items:
        config = decoding_config(item.task, opts.max_new_tokens, opts.max_samples)
        item.rows = read_rows(item.test_path, opts.limit)
        item.keys = [prompt_key(row_messages(r), config, model_id, opts.backend,
                                draw=r.get("id") if config.do_sample else None) for r in item.rows]
        cache = GenerationCache(opts.out_dir / CACHE_DIR / item.task.id / item.variant, opts.shard).load()
        prepared.append((item, config, cache))
    if opts.merge:
        problems = [p for item, _, cache in prepared if (p := _missing_for_merge(item, cache))]
        if problems:
            raise EvalRunError("--merge: " + "; ".join(problems) + ". Run the missing shards (--shard i/N) "
                               "with the same --model, --backend and --limit, or once without --shard")
    return [_run_item(item, config, cache, opts, model_id, get_backend) for item, config, cache in prepared]


def _run_item(item: Item, config: DecodingConfig, cache: GenerationCache, opts: RunOptions, model_id: str,
              get_backend) -> dict:
    stats = GenerationStats(prompts=len(set(item.keys)))
    if not opts.merge:
        stats = generate_missing(item, cache, config, opts, get_backend)
    summary = {"task": item.task.id, "variant": item.variant, "rows": len(item.rows), "prompts": stats.prompts,
               "in_shard": stats.in_shard, "cached": stats.cached, "generated": stats.generated,
               "torn_cache_lines": cache.torn, "seconds_generation": round(stats.seconds, 3)}
    if opts.shard is not None:
        summary["note"] = f"shard {opts.shard[0]}/{opts.shard[1]}: nothing scored; score with --merge"
        return summary
    run_info = {"model": str(opts.model), "model_identity": model_id, "backend": opts.backend,
                "decoding": asdict(config), "rows": len(item.rows), "limit": opts.limit,
                "test_file": str(item.test_path)}
    scored = score(item, cache, run_info)
    path = write_outputs(item, scored, opts.out_dir)
    summary.update(results=str(path), seconds_scoring=round(scored.seconds, 3),
                   rows_per_second_scoring=round(len(item.rows) / scored.seconds, 1) if scored.seconds else None,
                   unreadable=dict(scored.unreadable),
                   metrics={r.get("report_as") or r["metric"]: r["value"] for r in scored.results})
    return summary
