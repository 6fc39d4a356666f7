"""``biomatrix tasks check`` beyond the schema: metric names and options against a metric table handed in by
the caller (the task layer may not import eval; the CLI looks the registry up by name), prompts rendered and
tokenized with a real tokenizer, and the paper numbers against ``eval/cards/paper_results.yaml``.

Each check returns problem lines (``task file <path>: <key>: <message>``); an empty list means it passed.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Mapping

from biomatrix_plugin.tasks import entities
from biomatrix_plugin.tasks.converters import Example
from biomatrix_plugin.tasks.entities import Molecule
from biomatrix_plugin.tasks.render import RenderSpec, render
from biomatrix_plugin.tasks.spec import Task

# a metric name -> a function that validates an options mapping (raises with a message) or None if unknown
MetricLookup = Callable[[str], Callable[[Mapping[str, Any]], Any] | None]


def metric_options(options: Mapping[str, Any], variant: str) -> dict:
    """The options of one variant's run: ``{variant}`` in a string value stands for the variant's name (as
    ``eval run`` substitutes it)."""
    return {k: (v.replace("{variant}", variant) if isinstance(v, str) else v) for k, v in options.items()}


def check_metrics(tasks: Iterable[Task], lookup: MetricLookup) -> list[str]:
    problems = []
    for task in tasks:
        if "eval" not in task.data:
            continue
        for i, metric in enumerate(task["eval"]["metrics"]):
            where = f"task file {task.path}: eval.metrics[{i}]"
            validate = lookup(metric["name"])
            if validate is None:
                problems.append(f"{where}.name: unknown metric {metric['name']!r} (see `biomatrix eval metric --list`)")
                continue
            for variant in task.variants:
                try:
                    validate(metric_options(metric.get("options", {}), variant))
                except ValueError as exc:  # the registry's EvalInputError is a ValueError
                    problems.append(f"{where}.options ({variant}): {exc}")
    return problems


# one representative value per field kind, to render every template of every variant
_SAMPLES = {"molecule": "CC(=O)Oc1ccccc1C(=O)O", "text": "The molecule is a benzoic acid ester.",
            "iupac": "2-acetyloxybenzoic acid", "formula": "C9H8O4", "number": 1.25,
            "protein": "MKTAYIAKQRQISFVKSHFSRQ", "protein3d": "5,17,250,3", "mol3d": "[C 12][C 7][O 301]",
            "label_set": "ion binding; transferase activity, transferring phosphorus-containing groups",
            "none": None}


def sample_example(task: Task) -> Example:
    def value(kind: str, labels=None):
        if kind == "label":
            return next(iter(labels))
        if kind == "molecule":
            return Molecule(_SAMPLES["molecule"], "sample")
        if kind in ("number", "text", "iupac", "formula"):
            return _SAMPLES[kind]
        return entities.read(kind, _SAMPLES[kind], "sample")

    response = task["response"]
    out = value(response["kind"], response.get("labels"))
    target = "Hepatobiliary disorders" if "{target}" in task.prompts[0] else None
    fields = task["input"].get("fields")
    if fields:
        given = {name: value(kind) for name, kind in fields.items()}
        raw_in = json.dumps({name: _SAMPLES.get(kind) for name, kind in fields.items()}, sort_keys=True)
    else:
        given = value(task["input"]["kind"])
        raw_in = str(_SAMPLES.get(task["input"]["kind"], "x"))
    raw_out = out.smiles if isinstance(out, Molecule) else out if isinstance(out, (str, float)) else \
        json.dumps(_SAMPLES.get(response["kind"]))
    return Example(given, out, raw_in, raw_out, target)


def sample_rows(task: Task, split: str = "train") -> Iterable[tuple[str, int, dict]]:
    """(variant, template index, row) for every template and variant of ``task``."""
    spec = RenderSpec(task.id, task.prompts, dict(task["response"]), task.variants)
    example = sample_example(task)
    for variant in task.variants:
        for index in range(len(task.prompts)):
            yield variant, index, render(spec, example, variant, index, split)


def check_shared_train(tasks: Iterable[Task]) -> list[str]:
    """``splits.train_shared_with`` names a task that reads the same train files (same path, same raw
    train splits) and does not itself defer to another (one owner per train file)."""
    by_id = {t.id: t for t in tasks}
    problems = []
    for task in by_id.values():
        owner_id = task["splits"].get("train_shared_with")
        if owner_id is None:
            continue
        where = f"task file {task.path}: splits.train_shared_with"
        owner = by_id.get(owner_id)
        if owner is None or owner_id == task.id:
            problems.append(f"{where}: {owner_id!r} is not another task of the suite")
            continue
        mine = [task.source_patterns(s) for s in task.raw_splits["train"]]
        theirs = [owner.source_patterns(s) for s in owner.raw_splits["train"]]
        if mine != theirs:
            problems.append(f"{where}: {owner_id} reads other train files ({theirs} vs {mine})")
        if owner["splits"].get("train_shared_with"):
            problems.append(f"{where}: {owner_id} defers its train split too; name the task that owns the file")
    return problems


def check_prompts(tasks: Iterable[Task], tokenizer, max_tokens: int = 2048) -> list[str]:
    """Every template of every variant renders, its prompt + answer fits ``max_tokens``, and tokenizing the
    row keeps every modality control token as one token and decodes back to the same text."""
    from biomatrix_plugin.vocab.tokens import CONTROL_TOKENS

    control = {tok: tokenizer.convert_tokens_to_ids(tok) for pair in CONTROL_TOKENS.values() for tok in pair}
    missing = [tok for tok, i in control.items() if i is None or i == tokenizer.unk_token_id]
    if missing:
        return [f"tokenizer has no {missing[0]} token: pass the extended tokenizer (biomatrix extend)"]
    problems = []
    for task in tasks:
        for variant, index, row in sample_rows(task):
            where = f"task file {task.path}: prompts[{index}] ({variant})"
            text = "\n".join(part for part in (row["instruction"], row["input"], row["output"]) if part)
            ids = tokenizer.encode(text, add_special_tokens=False)
            if len(ids) > max_tokens:
                problems.append(f"{where}: {len(ids)} tokens with a sample answer, over {max_tokens}")
            for tok, tok_id in control.items():
                if text.count(tok) != ids.count(tok_id):
                    problems.append(f"{where}: {tok} is not kept as one token")
            if tokenizer.decode(ids) != text:
                problems.append(f"{where}: tokenizing and decoding the row does not give it back")
    return problems


def check_paper(tasks: Iterable[Task], published: Mapping[str, Any]) -> list[str]:
    """The task files' ``paper`` blocks against paper_results.yaml's entries: that file is generated from
    them (``biomatrix tasks recipes``), so a difference means it was not regenerated (or was edited)."""
    by_task = {entry["task"]: entry for entry in published.get("tasks", [])}
    problems = []
    for task in tasks:
        if "paper" not in task.data:
            continue
        if task.id not in by_task:
            problems.append(f"task file {task.path}: paper: no entry in paper_results.yaml; run "
                            f"`biomatrix tasks recipes`")
            continue
        theirs, ours = by_task[task.id], task["paper"]
        for key in ("table", "unit", "results"):
            if theirs.get(key) != ours.get(key):
                problems.append(f"task file {task.path}: paper.{key}: {ours.get(key)!r} differs from "
                                f"paper_results.yaml's {theirs.get(key)!r}")
    return problems


def prompt_choice_counts(task: Task, n: int, seed: int = 0) -> list[int]:
    """How often each template is drawn over ``n`` keyed streams (for docs and tests of uniformity)."""
    from biomatrix_plugin.corpus.compose import keyed_rng

    counts = [0] * len(task.prompts)
    for i in range(n):
        counts[keyed_rng(seed, task.id, "sample", i).randrange(len(task.prompts))] += 1
    return counts

