#!/usr/bin/env python
"""The MOSES real-data check of the task suite (issue "task suite, part 2"): the whole unconditional-generation
path on the real MOSES files that ship in the installed ``molsets`` wheel, on a CPU.

1. the tiny extended model (``biomatrix tiny-base`` + ``extend``; or ``--model``);
2. ``tasks build moses_unconditional`` from the shipped ``train.csv.gz`` (its first ``--train-rows`` rows) and
   ``test.csv.gz`` (its first ``--samples`` rows: one test row per molecule to draw, each holding one MOSES
   test molecule as the reference), copied gzipped into WORKDIR/raw in the published layout;
3. a few SFT steps through the stock ``llamafactory-cli`` (recipes/smoke/sft.yaml, as the demo trains);
4. ``eval run`` (HF backend, CPU): one sampled molecule per test row (the task's decoding: temperature 1.0,
   top-p 1.0), scored with every metric of the task file (validity, uniqueness, novelty against the built
   train split, IntDiv, FCD/SNN/Frag/Scaf against the rows' reference molecules), then ``eval report`` next to
   the paper's Table 5;
5. WORKDIR/moses_real_data_check.json (or ``--out``): the numbers, row counts, loss and seconds per stage.

A tiny randomly initialised model trained for a few steps gives low validity; the point is that every step
runs on the real data. The full protocol (10,000 draws against 10,000 references) is ``--samples 10000``;
FCD runs ChemNet on the CPU (``fcd`` package), 20-40 molecules/s on two shared cores.
"""

from __future__ import annotations

import argparse
import copy
import csv
import dataclasses
import gzip
import io
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TASK_ID = "moses_unconditional"


def _first_rows(source: Path, target: Path, n: int | None) -> int:
    """``source`` (a MOSES csv.gz: header + rows) -> ``target`` gzipped with the header and the first ``n``
    rows (all when None); returns the rows written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with gzip.open(source, "rt", encoding="utf-8", newline="") as src:
        reader = csv.reader(src)
        header = next(reader)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        for row in reader:
            if n is not None and written >= n:
                break
            writer.writerow(row)
            written += 1
    with gzip.open(target, "wt", encoding="utf-8", newline="") as out:
        out.write(buf.getvalue())
    return written


def _model(workdir: Path, model: Path | None) -> Path:
    if model is not None:
        return model
    from biomatrix_plugin.model.extend import extend_model
    from biomatrix_plugin.model.tiny_base import build_tiny_base

    target = workdir / "tiny-extended"
    if not (target / "config.json").exists():
        extend_model(build_tiny_base(workdir / "tiny-base"), target, seed=0)
    return target


def _with_decoding(task, max_new_tokens: int, temperature: float | None):
    """The task with this run's max_new_tokens (the task file's 128 is for a trained model) and, when given,
    another sampling temperature (the task file's 1.0 is ours too: the report tunes it per task)."""
    data = copy.deepcopy(dict(task.data))
    data["eval"]["decoding"]["max_new_tokens"] = max_new_tokens
    if temperature is not None:
        data["eval"]["decoding"]["temperature"] = temperature
    return dataclasses.replace(task, data=data)


def run_check(workdir: Path, *, train_rows: int = 2000, samples: int = 300, sft_steps: int = 60,
              max_new_tokens: int = 96, variant: str = "smiles", model: Path | None = None,
              batch_size: int = 4, learning_rate: float = 3e-3, eval_batch: int = 32,
              temperature: float | None = None) -> dict:
    from biomatrix_plugin.demo.run import llamafactory_train, loss_history
    from biomatrix_plugin.eval.report import write_report
    from biomatrix_plugin.eval.run import RunOptions, run_eval
    from biomatrix_plugin.tasks.build import BuildOptions, build_tasks, package_root
    from biomatrix_plugin.tasks.registry import TaskRegistry

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    base = _model(workdir, model)
    seconds["model"] = time.perf_counter() - t

    task = TaskRegistry().get(TASK_ID)
    shipped = package_root(task)
    shipped = shipped / "moses" / "dataset" / "data" if shipped is not None else None
    if shipped is None:
        raise SystemExit("the molsets distribution (MOSES data) is not installed: pip install --no-deps molsets")
    t = time.perf_counter()
    raw = workdir / "raw"
    moses = raw / "moses" / "dataset" / "data"  # the task file's path (the wheel's own layout)
    counts = {"train": _first_rows(shipped / "train.csv.gz", moses / "train.csv.gz", train_rows),
              "test": _first_rows(shipped / "test.csv.gz", moses / "test.csv.gz", samples)}
    data_dir = workdir / "data"
    manifest = build_tasks([task], BuildOptions(raw_root=raw, out_dir=data_dir, variants=(variant,), shards=1,
                                                progress=False, force=True))[0]
    seconds["build"] = time.perf_counter() - t

    t = time.perf_counter()
    sft = llamafactory_train(REPO / "recipes/smoke/sft.yaml", workdir / "sft.log", model_name_or_path=base,
                             output_dir=workdir / "sft", max_steps=sft_steps, dataset=task.dataset_name(variant),
                             dataset_dir=data_dir, overwrite_cache="true", cutoff_len=256,
                             per_device_train_batch_size=batch_size, learning_rate=learning_rate,
                             logging_steps=max(1, sft_steps // 10))
    losses = loss_history(sft)
    seconds["sft"] = time.perf_counter() - t

    t = time.perf_counter()
    eval_dir = workdir / "eval"
    opts = RunOptions(model=sft, data_dir=data_dir, out_dir=eval_dir, backend="hf", variants=(variant,),
                      device="cpu", batch_size=eval_batch)
    evaluated = _with_decoding(task, max_new_tokens, temperature)
    summary = run_eval([evaluated], opts)[0]
    report_md, _ = write_report(eval_dir)
    seconds["eval"] = time.perf_counter() - t

    results = [json.loads(line) for line in Path(summary["results"]).read_text().splitlines()]
    out = {
        "task": TASK_ID, "variant": variant, "package_data": str(shipped),
        "raw_rows_read": counts, "build": {"records": manifest["records"], "rows": manifest["rows"],
                                           "rejects": manifest["rejects"]},
        "sft_steps": sft_steps, "sft_loss_first_last": [losses[0][1], losses[-1][1]] if losses else None,
        "samples": samples, "decoding": evaluated["eval"]["decoding"],
        "metrics": {r["metric"]: r["value"] for r in results},
        "n_items": {r["metric"]: r["n_items"] for r in results},
        "not_computed": {r["metric"]: r.get("reason") for r in results if r["value"] is None},
        "details": {r["metric"]: r.get("details") for r in results if r["metric"] in ("uniqueness", "novelty",
                                                                                     "fcd", "snn")},
        "unreadable": summary.get("unreadable"), "results": summary["results"], "report": str(report_md),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", type=Path, default=REPO / "runs" / "moses_check")
    p.add_argument("--out", type=Path, default=None, help="the JSON (default WORKDIR/moses_real_data_check.json)")
    p.add_argument("--model", type=Path, default=None, help="an extended model (default: build the tiny one)")
    p.add_argument("--train-rows", type=int, default=2000)
    p.add_argument("--sft-steps", type=int, default=60)
    p.add_argument("--samples", type=int, default=300, help="molecules drawn = test rows = reference molecules")
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--variant", choices=("smiles", "selfies"), default="smiles")
    p.add_argument("--temperature", type=float, default=None, help="sampling temperature (default: the task's)")
    args = p.parse_args(argv)
    result = run_check(args.workdir, train_rows=args.train_rows, samples=args.samples, sft_steps=args.sft_steps,
                       max_new_tokens=args.max_new_tokens, variant=args.variant, model=args.model,
                       temperature=args.temperature)
    out = args.out or args.workdir / "moses_real_data_check.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
