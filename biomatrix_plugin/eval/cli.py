"""``biomatrix eval`` sub-commands: metric, report, generate, run.

Every user mistake raises a :class:`~biomatrix_plugin.errors.BioMatrixError` (``EvalInputError``,
``GenerationError``, io's ``InputFileError``); ``biomatrix_plugin.cli.main`` prints it as one ``error:`` line
and exits 2. Option values that cannot work are refused by argparse (the type functions of ``cli_types``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from biomatrix_plugin.cli_types import non_negative_int, positive_float, positive_int, unit_interval_float


def register(subparsers) -> None:
    ev = subparsers.add_parser("eval", help="score predictions, generate with a model, report against the paper")
    sub = ev.add_subparsers(dest="eval_command", metavar="EVAL_COMMAND")

    m = sub.add_parser("metric", help="score a prediction file with one metric (prints one JSON object)")
    m.add_argument("name", nargs="?", help="metric name (see --list)")
    m.add_argument("--list", action="store_true", help="list the metrics with one-line definitions")
    m.add_argument("--pred", help="predictions: one item per line, or .jsonl")
    m.add_argument("--ref", help="references (paired metrics) or reference set (snn, frag, scaf, fcd)")
    m.add_argument("--train", help="training set (novelty)")
    m.add_argument("--option", action="append", metavar="K=V", help="metric option, repeatable")
    m.add_argument("--field", help="JSONL object field to read (default: prediction/output/reference/...)")
    m.add_argument("--ref-field", help="JSONL field for --ref/--train when it differs from --field")
    m.add_argument("--out", help="also write the result JSON to this file (for `biomatrix eval report`)")
    m.add_argument("--task", help="task id recorded in --out, one of eval/paper_results.yaml's tasks")
    m.add_argument("--variant", help="variant recorded in --out (e.g. smiles, selfies); default: the task's default")
    m.add_argument("--report-as", metavar="NAME",
                   help="paper metric name recorded in --out when the paper names this number differently "
                        "(e.g. validity of the strict MolOpt run: validity_strict); only names the metric "
                        "really computes are accepted")
    m.set_defaults(func=_metric)

    r = sub.add_parser("report", help="Markdown table + PNG of results next to BioMatrix-4B's published numbers")
    r.add_argument("results_dir", help="directory of result JSON files (from `eval metric --out`)")
    r.add_argument("--paper", help="paper numbers file (default: eval/paper_results.yaml of this package)")
    r.add_argument("--tasks-dir", default=None, help="folder of task files (default: the shipped ones)")
    r.add_argument("--all-paper-rows", action="store_true",
                   help="also list every paper number without a result, as 'not computed'")
    r.set_defaults(func=_report)

    g = sub.add_parser("generate", help="generate answers for prompts with a model (HF transformers or vLLM)")
    g.add_argument("--model", required=True, help="Hugging Face model directory")
    g.add_argument("--prompts", required=True, help="JSONL with 'instruction' (+ optional 'input', 'system')")
    g.add_argument("--out", required=True, help="output JSONL: prompt id, raw texts, unwrapped values")
    g.add_argument("--backend", default="hf", choices=("hf", "vllm"))
    g.add_argument("--mode", default="greedy", choices=("greedy", "sample"))
    g.add_argument("--temperature", type=positive_float, default=1.0, help="sample mode (> 0)")
    g.add_argument("--top-p", type=unit_interval_float(open_low=True), default=1.0,
                   help="nucleus sampling mass in (0, 1], sample mode (the report samples with 1.0)")
    g.add_argument("--n", type=positive_int, default=1,
                   help="samples per prompt (sample mode only; greedy refuses n > 1)")
    g.add_argument("--max-new-tokens", type=positive_int, default=2048,
                   help="as the model card; SFT max length is 2048")
    g.add_argument("--batch-size", type=positive_int, default=8)
    g.add_argument("--seed", type=non_negative_int, default=0)
    g.add_argument("--device", default=None, help="hf backend: cpu, cuda, ... (default: cuda if available)")
    g.set_defaults(func=_generate)

    _register_run(sub)
    ev.set_defaults(func=lambda args: (ev.print_help(), 2)[1])


def _shard(text: str) -> tuple[int, int]:
    """``i/N`` with 1 <= i <= N (argparse type of ``eval run --shard``)."""
    import argparse

    i, sep, n = text.partition("/")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: expected i/N, e.g. 1/4")
    i, n = positive_int(i), positive_int(n)
    if i > n:
        raise argparse.ArgumentTypeError(f"{text!r}: shard i must be <= N")
    return i, n


def _register_run(sub) -> None:
    q = sub.add_parser("run", help="generate, read out and score a task's built test split (-> eval report)")
    q.add_argument("selector", metavar="TASK|GROUP|all")
    q.add_argument("--model", required=True, help="Hugging Face model directory")
    q.add_argument("--data", required=True, help="built tasks (`biomatrix tasks build --out`)")
    q.add_argument("--out", required=True, help="results folder: OUT/<task>/<variant>/results.jsonl, cache")
    q.add_argument("--backend", default="hf", choices=("hf", "vllm"))
    q.add_argument("--variant", choices=("smiles", "selfies", "default", "all"), default="all")
    q.add_argument("--limit", type=positive_int, default=None, help="first N test rows of each task/variant")
    q.add_argument("--shard", type=_shard, default=None, metavar="i/N",
                   help="generate only shard i of N (by prompt key); score all with --merge afterwards")
    q.add_argument("--merge", action="store_true", help="generate nothing; score the union of the shard caches")
    q.add_argument("--batch-size", type=positive_int, default=None,
                   help="prompts per backend call and cache flush (default: hf 8, vllm 512)")
    q.add_argument("--device", default=None, help="hf backend: cpu, cuda, ... (default: cuda if available)")
    q.add_argument("--tasks-dir", default=None, help="folder of task files (default: the shipped ones)")
    q.add_argument("--max-new-tokens", type=positive_int, default=None,
                   help="cap every task's max_new_tokens (smoke runs; recorded with the results)")
    q.add_argument("--max-samples", type=positive_int, default=None,
                   help="cap the samples per prompt of sampled tasks (decoding.n; smoke runs)")
    q.set_defaults(func=_run)


def _run(args) -> int:
    from biomatrix_plugin.eval.run import RunOptions, run_eval
    from biomatrix_plugin.tasks.registry import TaskRegistry

    opts = RunOptions(model=Path(args.model), data_dir=Path(args.data), out_dir=Path(args.out),
                      backend=args.backend, variants=None if args.variant == "all" else (args.variant,),
                      limit=args.limit, shard=args.shard, merge=args.merge, batch_size=args.batch_size,
                      device=args.device, tasks_dir=args.tasks_dir, max_new_tokens=args.max_new_tokens,
                      max_samples=args.max_samples)
    for summary in run_eval(TaskRegistry(args.tasks_dir).select(args.selector), opts):
        print(json.dumps(summary))
    return 0


def _print_list() -> int:
    from biomatrix_plugin.eval.registry import list_metrics

    for spec in list_metrics():
        arrow = "higher" if spec.higher_is_better else "lower"
        opts = f" [options: {', '.join(spec.options)}]" if spec.options else ""
        print(f"{spec.name:14s} {spec.family:9s} {spec.inputs:16s} {arrow}-is-better  {spec.definition}{opts}")
    return 0


def _check_out(out: str) -> Path:
    """--out must be a file path whose folder exists or can be made; checked before any scoring."""
    from biomatrix_plugin.eval.spec import EvalInputError

    path = Path(out)
    if path.is_dir():
        raise EvalInputError(f"--out {out}: is a directory; give the result file's path (e.g. {path / 'result.json'})")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a parent that is a file, no permission
        raise EvalInputError(f"--out {out}: cannot create its folder {path.parent} ({exc.strerror})") from None
    return path


def _check_paper_names(args, spec, options: dict) -> tuple[str | None, str | None]:
    """--task/--variant/--report-as name a real paper row (checked before scoring); returns (task, variant)."""
    if not (args.task or args.variant or args.report_as):
        return args.task, args.variant
    from biomatrix_plugin.eval.report import check_report_as, load_paper, resolve_task
    from biomatrix_plugin.eval.spec import EvalInputError

    if args.variant and not args.task:
        raise EvalInputError("--variant needs --task (a variant is one of a task's)")
    variant = None
    if args.task:
        _, variant = resolve_task(args.task, args.variant, load_paper(), "--task/--variant")
    if args.report_as:
        check_report_as(spec.name, args.report_as, options, spec.name)
    return args.task, variant


def _read_inputs(args, spec):
    from biomatrix_plugin.eval.io import read_items
    from biomatrix_plugin.eval.spec import EvalInputError

    preds = read_items(args.pred, args.field)
    ref_field = args.ref_field or args.field
    refs = read_items(args.ref, ref_field) if args.ref else None
    train = read_items(args.train, ref_field) if args.train else None
    if spec.inputs == "set" and args.ref:
        raise EvalInputError(f"metric {spec.name} scores a generated set alone; --ref is not used")
    if spec.inputs != "paired" and any(isinstance(p, list) for p in preds):
        # n samples per prompt (eval generate's "texts"): a generated set is all of them
        preds = [x for p in preds for x in (p if isinstance(p, list) else [p])]
    if args.train and not spec.needs_train:
        raise EvalInputError(f"metric {spec.name} does not use a training set; --train is not used")
    return preds, refs, train


def _metric(args) -> int:
    from biomatrix_plugin.eval.io import parse_option_pairs
    from biomatrix_plugin.eval.registry import compute, get_metric
    from biomatrix_plugin.eval.spec import EvalInputError
    from biomatrix_plugin.io import atomic_write

    if args.list:
        return _print_list()
    if not args.name:
        raise EvalInputError("eval metric: give a metric NAME or --list")
    spec = get_metric(args.name)
    if not args.pred:
        raise EvalInputError("--pred is required")
    raw_options = parse_option_pairs(args.option)
    options = spec.parse_options(raw_options)
    task, variant = _check_paper_names(args, spec, options)
    out_path = _check_out(args.out) if args.out else None
    preds, refs, train = _read_inputs(args, spec)
    result = compute(args.name, preds, refs, train, **raw_options)
    out = result.to_dict()
    if task or variant:
        out.update({"task": task, "variant": variant})
    if args.report_as:
        out["report_as"] = args.report_as
    # the options the number was computed with: the report checks report_as against them (strict JSON: an
    # unset float option such as threshold_logp=nan is written as null)
    out["options"] = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in options.items()}
    out["files"] = {"pred": args.pred, "ref": args.ref, "train": args.train}
    text = json.dumps(out)
    print(text)
    if out_path is not None:
        atomic_write(out_path, text + "\n")
    return 0


def _report(args) -> int:
    from biomatrix_plugin.eval.report import write_report

    md, png = write_report(args.results_dir, args.paper, all_paper_rows=args.all_paper_rows,
                           tasks_dir=args.tasks_dir)
    print(f"wrote {md}")
    print(f"wrote {png}")
    return 0


def _generate(args) -> int:
    from biomatrix_plugin.eval.generation import (
        DecodingConfig,
        GenerationError,
        load_backend,
        read_prompts,
        write_generations,
    )

    if args.mode == "greedy" and args.n != 1:
        # greedy decoding gives one answer per prompt; silently writing 1 instead of --n would skew set metrics
        raise GenerationError(f"--n {args.n} needs --mode sample (with --temperature): greedy decoding is "
                              "deterministic and gives exactly one answer per prompt")
    prompts = read_prompts(args.prompts)
    config = (DecodingConfig.greedy(args.max_new_tokens) if args.mode == "greedy"
              else DecodingConfig.sample(args.temperature, args.n, args.max_new_tokens, seed=args.seed,
                                         top_p=args.top_p))
    backend = load_backend(args.backend, args.model, device=args.device, batch_size=args.batch_size)
    generations = backend.generate([p.messages for p in prompts], config)
    counts = write_generations(args.out, prompts, generations)
    print(json.dumps(counts))
    return 0
