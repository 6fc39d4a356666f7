"""``biomatrix data ...``: build, check, add, stats, list. Heavy imports stay inside the handlers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from biomatrix_plugin.cli_types import positive_int
from biomatrix_plugin.errors import USER_ERROR_EXIT, BioMatrixError, ConfigError
from biomatrix_plugin.io import atomic_write


class CardNotFoundError(ConfigError):
    """A card reference that is neither a card file nor a card name in the registry."""




def _registry(value: str | None) -> Path:
    """The data registry folder named by --registry (else $BIOMATRIX_DATA_REGISTRY / the checkout's); a folder
    without cards/ is a ConfigError, so check/list/add never report an empty registry as a clean one."""
    from biomatrix_plugin.corpus.registry import registry_dir

    path = Path(value) if value else registry_dir()
    if not (path / "cards").is_dir():
        raise ConfigError(f"registry {path}: no such folder or it has no cards/ folder (a data registry holds "
                          f"cards/*.yaml and dataset_info.json; pass --registry DIR or set $BIOMATRIX_DATA_REGISTRY)")
    return path


def _resolve_card(ref: str, registry: str | None):
    from biomatrix_plugin.corpus.registry import card_paths, load_card

    path = Path(ref)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return load_card(path)
    for p in card_paths(registry):
        if p.stem == ref:
            return load_card(p)
    raise CardNotFoundError(f"card {ref!r}: neither a .yaml file nor a card name in "
                            f"{registry or 'data_registry'}/cards")


def _build_one(card, args):
    from biomatrix_plugin.corpus.build import build_card

    settings = {"data_root": args.data_root, "n_shards": args.shards, "checkpoint_every": args.checkpoint_every,
                "force": args.force, "output_format": args.format}
    if args.engine == "ray":
        from biomatrix_plugin.corpus.ray_engine import build_card_with_ray

        return build_card_with_ray(card, args.out, workers=args.workers, **settings)
    return build_card(card, args.out, workers=args.workers, progress=not args.no_progress, **settings)


def _build(args) -> int:
    cards = [_resolve_card(ref, args.registry) for ref in args.cards]  # every card is valid before any build
    status = 0
    for card in cards:
        try:
            manifest = _build_one(card, args)
        except BioMatrixError as exc:
            # the other cards still build; each failure is one line, and the exit status says it
            print(f"error: {card.name}: {exc}", file=sys.stderr)
            status = USER_ERROR_EXIT
            continue
        t = manifest["totals"]
        print(f"{card.name}: {t['records']} records -> {t['written']} instances written, {t['rejected']} rejected "
              f"({len(manifest['shards'])} shards; rejects: {Path(args.out) / '_build' / card.name / 'rejects.jsonl'})")
    if args.stats and status == 0:
        return _stats_for(args.out, args.tokenizer, None, None)
    return status


def _stats_for(out: str, tokenizer: str | None, png: str | None, json_path: str | None) -> int:
    from biomatrix_plugin.corpus.stats import compute_stats, format_report, plot_composition

    report = compute_stats(out, tokenizer, progress=True)
    print(format_report(report))
    json_path = json_path or str(Path(out) / "corpus_stats.json")
    atomic_write(json_path, json.dumps(report, indent=1))
    png_path = plot_composition(report, png or str(Path(out) / "corpus_composition.png"))
    print(f"wrote {json_path} and {png_path}")
    return 0


def _check_tokens(args) -> int:
    from biomatrix_plugin.corpus.check_tokens import run_check_tokens

    return run_check_tokens(args.tokenizer, args.files)


def _stats(args) -> int:
    return _stats_for(args.out, args.tokenizer, args.png, args.json)


def _check(args) -> int:
    from biomatrix_plugin.corpus.registry import CardError, check_registry, write_dataset_info

    registry = str(_registry(args.registry))
    if args.write:
        try:
            path = write_dataset_info(registry)
        except CardError as exc:  # it lists every problem, one per line
            raise CardError(f"cannot generate dataset_info.json:\n{exc}") from None
        print(f"wrote {path}")
    errors, warnings = check_registry(registry, require_files=args.require_files)
    for w in warnings:
        print(f"warning: {w}")
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    print(f"{len(errors)} error(s), {len(warnings)} warning(s)")
    return 1 if errors else 0


def _add(args) -> int:
    import yaml

    from biomatrix_plugin.corpus.builders import BUILDERS
    from biomatrix_plugin.corpus.registry import CardError, validate_card, write_dataset_info

    registry = _registry(args.registry)
    spec = BUILDERS.get(args.builder)
    card = {
        "name": args.name,
        "description": args.description or (spec.summary if spec else ""),
        "category": args.category or (spec.category if spec else "text"),
        "source": {"name": args.source_name, **({"url": args.source_url} if args.source_url else {})},
        "license": args.license,
        "input": {"format": args.format, "path": args.path},
        "builder": {"name": args.builder, "params": json.loads(args.params) if args.params else {}},
    }
    if args.weight is not None:
        card["sampling_weight"] = args.weight
    path = registry / "cards" / f"{args.name}.yaml"
    errors = validate_card(card, str(path))
    if path.exists():
        errors.append(f"{path} already exists")
    if errors:
        raise CardError("\n".join(errors))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(card, sort_keys=False, allow_unicode=True), encoding="utf-8")
    try:
        write_dataset_info(registry)
    except CardError:
        path.unlink()
        raise
    print(f"wrote {path} and regenerated {registry / 'dataset_info.json'}")
    return 0


def _list(args) -> int:
    from biomatrix_plugin.corpus.builders import BUILDERS
    from biomatrix_plugin.corpus.registry import card_paths, load_card

    print("builders:")
    for name, spec in BUILDERS.items():
        print(f"  {name:22s} {spec.category:13s} reads {', '.join(spec.formats):40s} {spec.summary}")
    print("cards:")
    for p in card_paths(str(_registry(args.registry))):
        try:
            c = load_card(p)
            print(f"  {c.name:28s} {c.category:13s} {c.builder:22s} weight={c.sampling_weight}")
        except BioMatrixError as exc:  # an invalid card is listed as such; the others still show
            print(f"  {p.name}: INVALID ({str(exc).splitlines()[0]})")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("corpus", aliases=["data"],
                              help="corpus: build, check, add, stats, list (alias `data`, kept for one release)")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")

    b = sub.add_parser("build", help="build cards into sharded JSONL with rejects and a manifest (resumable)")
    b.add_argument("cards", nargs="+", help="card files or card names in the registry")
    b.add_argument("--out", required=True, help="output directory")
    b.add_argument("--shards", type=positive_int, default=1)
    b.add_argument("--workers", type=positive_int, default=1, help="local processes (or Ray CPUs with --engine ray)")
    b.add_argument("--engine", choices=["local", "ray"], default="local")
    b.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl",
                   help="output files: JSONL (default) or parquet (column text; converted per finished shard)")
    b.add_argument("--data-root", default=None,
                   help="where input.path patterns are resolved (default $BIOMATRIX_DATA_ROOT, else the card's folder)")
    b.add_argument("--registry", default=None, help="registry directory (default data_registry/)")
    b.add_argument("--checkpoint-every", type=positive_int, default=1000, help="records between shard checkpoints")
    b.add_argument("--force", action="store_true", help="discard an existing build of these cards in --out")
    b.add_argument("--no-progress", action="store_true")
    b.add_argument("--stats", action="store_true", help="write the statistics report and PNG afterwards")
    b.add_argument("--tokenizer", default=None, help="extended tokenizer directory for --stats")
    b.set_defaults(func=_build)

    c = sub.add_parser("check", help="validate cards and dataset_info.json against what LLaMA-Factory accepts")
    c.add_argument("--registry", default=None)
    c.add_argument("--write", action="store_true", help="regenerate dataset_info.json from cards + manual entries")
    c.add_argument("--require-files", action="store_true", help="treat datasets not built yet as errors")
    c.set_defaults(func=_check)

    a = sub.add_parser("add", help="write a new card and regenerate dataset_info.json")
    a.add_argument("--name", required=True)
    a.add_argument("--builder", required=True)
    a.add_argument("--format", required=True)
    a.add_argument("--path", required=True, help="input path pattern (relative to the data root)")
    a.add_argument("--license", required=True)
    a.add_argument("--source-name", required=True)
    a.add_argument("--source-url", default=None)
    a.add_argument("--category", default=None)
    a.add_argument("--description", default=None)
    a.add_argument("--params", default=None, help="builder params as JSON")
    a.add_argument("--weight", type=float, default=None, help="sampling weight (share of tokens)")
    a.add_argument("--registry", default=None)
    a.set_defaults(func=_add)

    s = sub.add_parser("stats", help="instances and tokens per source/modality; token-composition PNG")
    s.add_argument("out", help="a directory written by `biomatrix data build`")
    s.add_argument("--tokenizer", default=None, help="extended tokenizer directory (else approximate counts)")
    s.add_argument("--png", default=None)
    s.add_argument("--json", default=None)
    s.set_defaults(func=_stats)

    t = sub.add_parser("check-tokens", help="wrapped symbols the tokenizer splits into pieces (exit 1 when any)")
    t.add_argument("files", nargs="+", help="JSONL (.gz too) or parquet training files")
    t.add_argument("--tokenizer", required=True, help="extended tokenizer directory")
    t.set_defaults(func=_check_tokens)

    l = sub.add_parser("list", help="builders and registered cards")
    l.add_argument("--registry", default=None)
    l.set_defaults(func=_list)
