"""``biomatrix tasks list|show|check|build|recipes``: the instruction-tuning task suite.

An entry point: the metric registry (eval, one stage up) is reached by name through importlib, the
sanctioned way upward, so the task library itself never depends on eval.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from biomatrix_plugin.cli_types import positive_int
from biomatrix_plugin.errors import ConfigError


def _registry(args):
    from biomatrix_plugin.tasks.registry import TaskRegistry

    return TaskRegistry(args.tasks_dir)


def _fmt_size(n) -> str:
    return "-" if n is None else f"{n:,}"


def _summary(task) -> dict:
    data = task.data
    ev = data.get("eval", {})
    return {"id": task.id, "group": task.group, "variants": list(task.variants),
            "training_only": task.training_only, "sizes": dict(data["sizes"]),
            "metrics": [m.get("report_as", m["name"]) for m in ev.get("metrics", [])],
            "decoding": ev.get("decoding", {}).get("mode"),
            "paper": (data.get("paper") or {}).get("results", {})}


def cmd_list(args) -> int:
    tasks = _registry(args).all()
    if args.group:
        tasks = [t for t in tasks if t.group == args.group]
        if not tasks:
            raise ConfigError(f"no task in group {args.group!r}")
    rows = [_summary(t) for t in tasks]
    if args.json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
        return 0
    print(f"{'task':34} {'group':14} {'variants':15} {'train':>10} {'test':>7}  metrics / paper")
    for r in rows:
        paper = "; ".join(f"{v}: " + ", ".join(f"{k} {x:g}" for k, x in m.items()) for v, m in r["paper"].items())
        print(f"{r['id']:34} {r['group']:14} {','.join(r['variants']):15} {_fmt_size(r['sizes']['train']):>10} "
              f"{_fmt_size(r['sizes'].get('test')):>7}  {', '.join(r['metrics']) or 'training only'}"
              + (f"  [{paper}]" if paper else ""))
    print(f"{len(rows)} tasks")
    return 0


def cmd_show(args) -> int:
    task = _registry(args).get(args.task)
    if args.json:
        print(json.dumps(task.to_json(), indent=1, ensure_ascii=False, default=str))
        return 0
    import yaml

    print(f"# {task.id}  ({task.path})")
    print(yaml.safe_dump(dict(task.data), sort_keys=False, allow_unicode=True, width=110), end="")
    return 0


def _metric_lookup():
    """Name -> options validator, from the eval registry looked up by name (eval is one stage up)."""
    registry = importlib.import_module("biomatrix_plugin.eval.registry")
    known = {spec.name: spec for spec in registry.list_metrics()}
    return lambda name: known[name].parse_options if name in known else None


def _load_tokenizer(path: str | None):
    if path is None:
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def cmd_check(args) -> int:
    from biomatrix_plugin.paths import package_data
    from biomatrix_plugin.schema import load_yaml
    from biomatrix_plugin.tasks import checks

    tasks = _registry(args).all()  # schema problems of every file, together
    problems = checks.check_metrics(tasks, _metric_lookup())
    problems += checks.check_shared_train(tasks)
    published = package_data("eval", "cards", "paper_results.yaml")
    if published.is_file():
        problems += checks.check_paper(tasks, load_yaml(published))
    tokenizer = _load_tokenizer(args.tokenizer)
    if tokenizer is not None:
        problems += checks.check_prompts(tasks, tokenizer)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in {len(tasks)} task files")
    skipped = "" if tokenizer is not None else " (prompts not tokenized: pass --tokenizer DIR)"
    print(f"{len(tasks)} task files ok: schema, groups, metrics and options, paper numbers{skipped}")
    return 0


def cmd_build(args) -> int:
    from biomatrix_plugin.tasks.build import BuildOptions, build_tasks

    tasks = _registry(args).select(args.selector)
    variants = None if args.variant == "all" else (args.variant,)
    opts = BuildOptions(raw_root=Path(args.raw), out_dir=Path(args.out), variants=variants, workers=args.workers,
                        shards=args.shards, engine=args.engine, limit=args.limit, force=args.force,
                        prompt_sampling=args.prompt_sampling, selfies_vocabulary=args.selfies_vocabulary,
                        progress=not args.quiet)
    for manifest in build_tasks(tasks, opts):
        _print_counts(manifest)
    print(f"wrote {len(tasks)} task(s) under {args.out} (dataset_info.json beside them)")
    return 0


def cmd_recipes(args) -> int:
    from biomatrix_plugin.paths import checkout_root
    from biomatrix_plugin.tasks import recipes

    root = Path(args.root) if args.root else checkout_root()
    if root is None:
        raise ConfigError("tasks recipes writes into a source checkout (recipes/, data_registry/); pass --root DIR")
    if not root.is_dir():
        raise ConfigError(f"--root {root}: no such folder")
    registry = _registry(args)
    files = recipes.generated_files(registry.all(), registry.root)
    if args.check:
        problems = [f"{rel}: differs from what the task files give" for rel in recipes.stale_files(root, files)]
        problems += [f"{rel}: no task group produces it any more" for rel in recipes.orphan_variants(root, files)]
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            raise ConfigError(f"{len(problems)} generated file(s) not current; run `biomatrix tasks recipes`")
        print(f"{len(files)} generated files are current")
        return 0
    written = recipes.write_recipes(root, files)
    for rel in written:
        print(f"wrote {rel}")
    print(f"{len(files)} generated files, {len(written)} changed")
    return 0


def _print_counts(m: dict) -> None:
    for split, rec in m["records"].items():
        rows = m["rows"].get(split, {})
        per_variant = ", ".join(f"{v} {r['rows']:,}" for v, r in rows.items())
        routed = f"{rec['routed']:,} of sibling sub-tasks, " if rec.get("routed") else ""
        print(f"{m['task']} {split}: {rec['read']:,} records read, {rec['converted']:,} converted, {routed}"
              f"{rec['rejected']:,} rejected; rows {per_variant} (Table 31: {_fmt_size(m['table31'].get(split))})")


def register(subparsers) -> None:
    p = subparsers.add_parser("tasks", help="the instruction-tuning task suite (list, show, check, build)")
    p.add_argument("--tasks-dir", default=None, help="folder of task files (default: $BIOMATRIX_TASKS_DIR, else "
                                                      "the shipped ones, data_registry/tasks in a checkout)")
    sub = p.add_subparsers(dest="tasks_command", metavar="ACTION")

    q = sub.add_parser("list", help="every task with group, variants, sizes, metrics, paper numbers")
    q.add_argument("--group", help="only this Table 30 group")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_list)

    q = sub.add_parser("show", help="one task in full")
    q.add_argument("task")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_show)

    q = sub.add_parser("check", help="validate every task file (schema, metrics, paper numbers, prompts)")
    q.add_argument("--tokenizer", help="extended tokenizer directory: render and tokenize every prompt with it")
    q.set_defaults(func=cmd_check)

    q = sub.add_parser("build", help="convert raw files into train/test JSONL per task and variant")
    q.add_argument("selector", metavar="TASK|GROUP|all")
    q.add_argument("--raw", required=True, help="raw-data root: each source unpacked as published under it")
    q.add_argument("--out", required=True, help="output folder: OUT/<task>/<variant>/{train,test}.jsonl")
    q.add_argument("--variant", choices=("smiles", "selfies", "default", "all"), default="all")
    q.add_argument("--workers", type=positive_int, default=1)
    q.add_argument("--shards", type=positive_int, default=8,
                   help="shards per split (default 8); the rows' order depends on it, not on --workers")
    q.add_argument("--engine", choices=("local", "ray"), default="local")
    q.add_argument("--limit", type=positive_int, default=None, help="first N records of each raw file")
    q.add_argument("--force", action="store_true", help="discard an existing build of these tasks in --out")
    q.add_argument("--prompt-sampling", choices=("first", "sampled"), default="first",
                   help="test prompts: the first template (default) or sampled like training rows")
    q.add_argument("--selfies-vocabulary", default="open",
                   help="SELFIES symbols allowed: open (any), default (the shipped vocabulary) or a vocabulary dir")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=cmd_build)

    q = sub.add_parser("recipes", help="write the SFT recipes (merged, Table 30 variants, released corpus) and "
                                       "data_registry/sft/dataset_info.json from the task files")
    q.add_argument("--root", help="checkout root to write under (default: this checkout)")
    q.add_argument("--check", action="store_true", help="write nothing; fail when a generated file is not current")
    q.set_defaults(func=cmd_recipes)
