"""``biomatrix eval`` sub-commands: metric, report, generate."""

from __future__ import annotations

import json
import sys
from pathlib import Path


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
    m.add_argument("--out", help="also write the result JSON here (for `biomatrix eval report`)")
    m.add_argument("--task", help="task id recorded in --out, matching eval/paper_results.yaml")
    m.add_argument("--variant", help="variant recorded in --out (e.g. smiles, selfies)")
    m.add_argument("--report-as", metavar="NAME",
                   help="paper metric name recorded in --out when the paper names this number differently "
                        "(e.g. validity of the strict MolOpt run: validity_strict)")
    m.set_defaults(func=_metric)

    r = sub.add_parser("report", help="Markdown table + PNG of results next to BioMatrix-4B's published numbers")
    r.add_argument("results_dir", help="directory of result JSON files (from `eval metric --out`)")
    r.add_argument("--paper", help="paper numbers file (default: eval/paper_results.yaml of this package)")
    r.add_argument("--all-paper-rows", action="store_true",
                   help="also list every paper number without a result, as 'not computed'")
    r.set_defaults(func=_report)

    g = sub.add_parser("generate", help="generate answers for prompts with a model (HF transformers or vLLM)")
    g.add_argument("--model", required=True, help="Hugging Face model directory")
    g.add_argument("--prompts", required=True, help="JSONL with 'instruction' (+ optional 'input', 'system')")
    g.add_argument("--out", required=True, help="output JSONL: prompt id, raw texts, unwrapped values")
    g.add_argument("--backend", default="hf", choices=("hf", "vllm"))
    g.add_argument("--mode", default="greedy", choices=("greedy", "sample"))
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--n", type=int, default=1, help="samples per prompt (sample mode only; greedy refuses n > 1)")
    g.add_argument("--max-new-tokens", type=int, default=2048, help="as the model card; SFT max length is 2048")
    g.add_argument("--batch-size", type=int, default=8)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default=None, help="hf backend: cpu, cuda, ... (default: cuda if available)")
    g.set_defaults(func=_generate)

    ev.set_defaults(func=lambda args: (ev.print_help(), 2)[1])


def _metric(args) -> int:
    from biomatrix_plugin.eval.io import parse_option_pairs, read_items
    from biomatrix_plugin.eval.registry import EvalInputError, compute, get_metric, list_metrics

    if args.list:
        for spec in list_metrics():
            arrow = "higher" if spec.higher_is_better else "lower"
            opts = f" [options: {', '.join(spec.options)}]" if spec.options else ""
            print(f"{spec.name:14s} {spec.family:9s} {spec.inputs:16s} {arrow}-is-better  {spec.definition}{opts}")
        return 0
    if not args.name:
        print("biomatrix eval metric: give a metric NAME or --list", file=sys.stderr)
        return 2
    try:
        spec = get_metric(args.name)
        if not args.pred:
            raise EvalInputError("--pred is required")
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
        result = compute(args.name, preds, refs, train, **parse_option_pairs(args.option))
    except EvalInputError as exc:
        print(f"biomatrix eval metric: {exc}", file=sys.stderr)
        return 2
    out = result.to_dict()
    if args.task or args.variant:
        out.update({"task": args.task, "variant": args.variant})
    if args.report_as:
        out["report_as"] = args.report_as
    out["files"] = {"pred": args.pred, "ref": args.ref, "train": args.train}
    text = json.dumps(out)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0


def _report(args) -> int:
    from biomatrix_plugin.eval.registry import EvalInputError
    from biomatrix_plugin.eval.report import write_report

    try:
        md, png = write_report(args.results_dir, args.paper, all_paper_rows=args.all_paper_rows)
    except EvalInputError as exc:
        print(f"biomatrix eval report: {exc}", file=sys.stderr)
        return 2
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

    try:
        if args.mode == "greedy" and args.n != 1:
            # greedy decoding gives one answer per prompt; silently writing 1 instead of --n would skew set metrics
            raise GenerationError(f"--n {args.n} needs --mode sample (with --temperature): greedy decoding is "
                                  "deterministic and gives exactly one answer per prompt")
        prompts = read_prompts(args.prompts)
        config = (DecodingConfig.greedy(args.max_new_tokens) if args.mode == "greedy"
                  else DecodingConfig.sample(args.temperature, args.n, args.max_new_tokens, seed=args.seed))
        backend = load_backend(args.backend, args.model, device=args.device, batch_size=args.batch_size)
        generations = backend.generate([p.messages for p in prompts], config)
    except GenerationError as exc:
        print(f"biomatrix eval generate: {exc}", file=sys.stderr)
        return 2
    counts = write_generations(args.out, prompts, generations)
    print(json.dumps(counts))
    return 0
