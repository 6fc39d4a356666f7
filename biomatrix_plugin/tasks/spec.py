"""The task file: one declarative YAML per instruction-tuning sub-task, validated by a table of
:mod:`biomatrix_plugin.schema` kinds.

A task file ``<domain>_<modality>/<task_id>.yaml`` may start with ``include: _shared.yaml`` (a file in the same
folder, itself possibly including another): the included mapping is the base and the task file's own keys
override it, mapping by mapping (lists and scalars are replaced whole), as lm-evaluation-harness does. The
merged mapping is then checked against :data:`TASK_SCHEMA`; every problem names the file and the dotted key.

Fields (see docs/tasks.md for the meaning of each):
``title, domain, modality, source{dataset, license, url, version, path, converter, options, verified},
input{kind}, prompts[...], response{kind, template, precision, unit, labels}, variants[...],
splits{train, test, oversample, cap}, group, training_only, sizes{train, test}, eval{decoding, readout,
metrics, side_inputs}, paper{table, benchmark, unit, results}, notes``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

from biomatrix_plugin import schema as S

TASK_ID = r"[a-z0-9][a-z0-9_]*"

# Table 30 of the report: the task-group variants whose SFT runs give the published numbers;
# "merged_only" = tasks Table 30 does not list (trained only in the all-tasks merged model)
TABLE30_GROUPS = ("vgen_mol1d_moses", "vgen_mol1d_guacamol", "vmix_mol1d", "vmol3d", "vund_prot1d",
                  "vdes_prot1d_cameo", "vdes_prot1d_swissprotclap", "merged_only")
INTERACTION_GROUP = re.compile(r"vinter_[a-z0-9_]+")  # V*_inter: one variant per interaction subtask

DOMAINS = ("molecule", "protein", "interaction", "text")
MODALITIES = ("1d", "3d", "text")
VARIANTS = ("smiles", "selfies", "default")  # default: a task without a molecule line notation
# what a raw field holds, which decides how it is checked and rendered
ENTITY_KINDS = ("molecule", "text", "iupac", "formula", "number", "label", "label_set", "protein", "protein3d",
                "mol3d", "none")
RESPONSE_KINDS = tuple(k for k in ENTITY_KINDS if k != "none")  # an answer always has a value
READOUTS = ("molecule", "first_number", "label", "text", "formula", "option_letter", "protein", "label_set",
            "mol3d", "protein3d")
DECODING_MODES = ("greedy", "sample")
PROMPT_FIELDS = ("input", "notation", "target")  # placeholders a prompt template may use
FIELD_NAME = r"[a-z][a-z0-9_]*"  # an input.fields name, used as a {placeholder}
RESPONSE_FIELDS = ("answer", "unit")
MIN_PROMPTS = 8  # report §4.2: a pool of hand-written paraphrases per sub-task


class TaskFileError(S.SchemaError):
    """A task file (or the include it names) breaks the task schema; names the file and the key."""


def _fields(template: str) -> list[str]:
    """The ``{name}`` placeholders of a str.format template (``{{`` escapes are not fields)."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def _template_rule(allowed: tuple[str, ...]):
    def test(value: str) -> str | None:
        try:
            names = _fields(value)
        except ValueError as exc:
            return f"not a valid template ({exc}); write a literal brace as {{{{ or }}}}"
        bad = sorted({n for n in names if n not in allowed})
        if bad:
            return f"unknown placeholder {{{bad[0]}}}; a template may use {', '.join('{' + a + '}' for a in allowed)}"
        return None
    return test


def _path_rule(value) -> str | None:
    paths = [value] if isinstance(value, str) else value
    if any(p.startswith("/") for p in paths):
        return "must be relative to the raw-data root (--raw)"
    return None


def _group_rule(value: str) -> str | None:
    if value in TABLE30_GROUPS or INTERACTION_GROUP.fullmatch(value):
        return None
    return f"{value!r} is not a Table 30 group; expected one of {', '.join(TABLE30_GROUPS)} or vinter_<subtask>"


def _prompt_pool_rule(value: list) -> str | None:
    if len(value) < MIN_PROMPTS:
        return f"needs at least {MIN_PROMPTS} templates (report §4.2), got {len(value)}"
    seen: dict[str, int] = {}
    for i, text in enumerate(value):
        norm = " ".join(text.split()).lower()
        if norm in seen:
            return f"template {i} repeats template {seen[norm]}"
        seen[norm] = i
    return None


_TEMPLATE = S.Str(nonempty=True)  # placeholders are checked per task (they depend on input.fields)

SOURCE = S.Spec(fields={
    "dataset": S.Str(nonempty=True),
    "license": S.Str(nonempty=True),
    "url": S.Str(nonempty=True),
    "version": S.Str(),
    "path": S.Rule(base=S.PathPattern(), test=_path_rule),
    "converter": S.Str(nonempty=True),  # checked against the converter table by the registry
    "options": S.MapOf(),  # the converter's own table checks these
    "verified": S.Str(),  # what was and was not checked against the real files
    # data that ships inside an installed distribution (MOSES in molsets): looked up there when --raw holds
    # no file for the path
    "package": S.Spec(fields={"distribution": S.Str(nonempty=True), "root": S.Str(nonempty=True)},
                      required=("distribution", "root")),
}, required=("dataset", "license", "url", "path", "converter"))

RESPONSE = S.Spec(fields={
    "kind": S.Enum(choices=RESPONSE_KINDS),
    "template": S.Rule(base=S.Str(nonempty=True), test=_template_rule(RESPONSE_FIELDS)),
    "sep": S.Str(nonempty=True),  # label_set: the separator between labels (default "; ")
    "precision": S.Int(min=0, max=12),
    "unit": S.Str(),
    "labels": S.MapOf(values=S.Str(nonempty=True)),  # raw label -> verbalised answer
}, required=("kind",), rules=(lambda r: _response_rules(r),))


def _response_rules(r: Mapping) -> list[tuple[str, str]]:
    out = []
    if r["kind"] == "label" and not r.get("labels"):
        out.append(("labels", "a label response needs its label set (raw value -> answer)"))
    if r["kind"] != "label" and "labels" in r:
        out.append(("labels", f"only a label response has labels (kind is {r['kind']})"))
    if "precision" in r and r["kind"] != "number":
        out.append(("precision", f"only a number response has a precision (kind is {r['kind']})"))
    if "sep" in r and r["kind"] != "label_set":
        out.append(("sep", f"only a label_set response has a separator (kind is {r['kind']})"))
    return out


def _input_rules(i: Mapping) -> list[tuple[str, str]]:
    if ("kind" in i) == ("fields" in i):
        return [("kind", "give either input.kind (one value) or input.fields (name -> kind), not both")]
    out = []
    if "fields" in i and not i["fields"]:
        out.append(("fields", "name at least one field"))
    for name, kind in (i.get("fields") or {}).items():
        if not re.fullmatch(FIELD_NAME, name) or name in PROMPT_FIELDS:
            out.append((f"fields.{name}", f"a field name must match {FIELD_NAME} and not be one of "
                                          f"{', '.join(PROMPT_FIELDS)}"))
        if kind == "none":
            out.append((f"fields.{name}", "a field has a value; for no input at all use input.kind: none"))
    return out


INPUT = S.Spec(fields={
    "kind": S.Enum(choices=ENTITY_KINDS),
    "fields": S.MapOf(values=S.Enum(choices=ENTITY_KINDS)),
}, rules=(_input_rules,))


SPLITS = S.Spec(fields={
    "train": S.StrList(nonempty=True),  # raw split(s) read into train.jsonl
    "test": S.Str(nonempty=True, nullable=True),  # raw split read into test.jsonl; null for training-only tasks
    "oversample": S.Float(min=0.0, min_open=True, max=100.0),  # factor for the merged model (report §9.1)
    "cap": S.Int(min=1, nullable=True),  # at most this many train rows in the merged model
    # another task whose train split is this one's (OPI's test sets share one train file): a recipe that trains
    # on both takes the rows once, from that task
    "train_shared_with": S.Rule(base=S.Str(nonempty=True),
                                test=lambda v: None if re.fullmatch(TASK_ID, v) else f"must be a task id ({TASK_ID})"),
}, required=("train", "test"))

DECODING = S.Spec(fields={
    "mode": S.Enum(choices=DECODING_MODES),
    "temperature": S.Float(min=0.0, min_open=True, max=10.0),
    "top_p": S.Float(min=0.0, min_open=True, max=1.0),
    "n": S.Int(min=1),
    "max_new_tokens": S.Int(min=1),
    "ours": S.StrList(),  # settings the report does not publish, chosen here
}, required=("mode", "max_new_tokens"), rules=(lambda d: _decoding_rules(d),))


def _decoding_rules(d: Mapping) -> list[tuple[str, str]]:
    if d["mode"] == "greedy":
        return [(k, "greedy decoding takes no " + k) for k in ("temperature", "top_p") if k in d]
    return [] if "temperature" in d else [("temperature", "sampling needs a temperature")]


METRIC = S.Spec(fields={
    "name": S.Str(nonempty=True),  # a `biomatrix eval metric --list` name (checked by `tasks check`)
    "options": S.MapOf(),  # the metric's options; the value "{variant}" is replaced by the variant
    "report_as": S.Str(nonempty=True),  # the name the paper uses for this result (validity_loose, ...)
}, required=("name",))

EVAL = S.Spec(fields={
    "decoding": DECODING,
    "readout": S.Enum(choices=READOUTS),
    "metrics": S.ListOf(item=METRIC, nonempty=True),
    "side_inputs": S.MapOf(values=S.Str(nonempty=True)),  # e.g. train: the training split, for novelty
}, required=("decoding", "readout", "metrics"))

PAPER = S.Spec(fields={
    "table": S.Int(min=1),
    "benchmark": S.Str(nonempty=True),
    "unit": S.Enum(choices=("percent", "fraction", "raw")),  # raw: printed as computed (errors, MAEs)
    "results": S.MapOf(values=S.MapOf(values=S.Float())),  # variant -> metric -> value as printed
    # published metrics no metric of this package computes: name -> why (the report lists them so)
    "not_computed": S.MapOf(values=S.Str(nonempty=True)),
}, required=("table", "unit", "results"))

TASK_SCHEMA = S.Spec(fields={
    "title": S.Str(nonempty=True),
    "domain": S.Enum(choices=DOMAINS),
    "modality": S.Enum(choices=MODALITIES),
    "source": SOURCE,
    "input": INPUT,
    "prompts": S.Rule(base=S.ListOf(item=_TEMPLATE, nonempty=True), test=_prompt_pool_rule),
    "response": RESPONSE,
    "variants": S.StrList(items=VARIANTS, nonempty=True),
    "splits": SPLITS,
    "group": S.Rule(base=S.Str(nonempty=True), test=_group_rule),
    "training_only": S.Bool(),
    "sizes": S.Spec(fields={"train": S.Int(min=0), "test": S.Int(min=0, nullable=True)}, required=("train",)),
    "eval": EVAL,
    "paper": PAPER,
    "notes": S.Str(),
}, required=("title", "domain", "modality", "source", "input", "prompts", "response", "variants", "splits",
             "group", "sizes"),
    rules=(lambda t: _task_rules(t),))


def _task_rules(t: Mapping) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    training_only = t.get("training_only", False)
    if training_only:
        if t["splits"]["test"] is not None:
            out.append(("splits.test", "a training-only task has no test split (null)"))
        for key in ("eval", "paper"):
            if key in t:
                out.append((key, "a training-only task is not evaluated"))
    else:
        if t["splits"]["test"] is None:
            out.append(("splits.test", "an evaluated task needs a test split (or training_only: true)"))
        if "eval" not in t:
            out.append(("eval", "an evaluated task needs eval (decoding, readout, metrics) or training_only: true"))
    notations = {"smiles", "selfies"} & set(t["variants"])
    if "default" in t["variants"] and notations:
        out.append(("variants", "'default' is for tasks without a molecule notation; do not mix it with "
                                "smiles/selfies"))
    if notations and t["domain"] == "protein":
        out.append(("variants", "a protein task has no molecule notation; use [default]"))
    kinds = [("response.kind", t["response"]["kind"])]
    kinds += [(f"input.fields.{n}", k) for n, k in (t["input"].get("fields") or {}).items()]
    if "kind" in t["input"]:
        kinds.append(("input.kind", t["input"]["kind"]))
    for kind_key, kind in kinds:
        if kind == "molecule" and not notations:
            out.append((kind_key, "a molecule needs a notation variant (smiles and/or selfies)"))
    out += _prompt_placeholder_rules(t)
    if "paper" in t and "eval" in t:
        produced = {m.get("report_as", m["name"]) for m in t["eval"]["metrics"]}
        not_computed = t["paper"].get("not_computed") or {}
        published = {name for metrics in t["paper"]["results"].values() for name in metrics}
        for variant, metrics in t["paper"]["results"].items():
            if variant not in t["variants"]:
                out.append((f"paper.results.{variant}", f"not a variant of this task ({', '.join(t['variants'])})"))
            for name in metrics:
                if name not in produced and name not in not_computed:
                    out.append((f"paper.results.{variant}.{name}",
                                f"no eval metric produces it (metrics: {', '.join(sorted(produced))}); list it "
                                f"under paper.not_computed with the reason if none can"))
        for name in not_computed:
            if name in produced:
                out.append((f"paper.not_computed.{name}", "an eval metric of this task produces it"))
            elif name not in published:
                out.append((f"paper.not_computed.{name}", "not a published metric of this task"))
    return out


def prompt_fields(task_input: Mapping) -> tuple[str, ...]:
    """The placeholders a prompt template of a task with this ``input`` section may use."""
    names = tuple(task_input.get("fields") or ())
    if names:
        return ("notation", "target", *names)
    return ("notation", "target") if task_input.get("kind") == "none" else PROMPT_FIELDS


def _prompt_placeholder_rules(t: Mapping) -> list[tuple[str, str]]:
    allowed = prompt_fields(t["input"])
    out = []
    used_per_prompt = []
    for i, template in enumerate(t["prompts"]):
        problem = _template_rule(allowed)(template)
        if problem:
            out.append((f"prompts[{i}]", problem))
            used_per_prompt.append(set())
            continue
        used_per_prompt.append(set(_fields(template)))
    if out:
        return out
    used = set().union(*used_per_prompt) if used_per_prompt else set()
    if "target" in used and not all("target" in u for u in used_per_prompt):
        out.append(("prompts", "either every template names the {target} or none does"))
    for name in t["input"].get("fields") or ():
        missing = [i for i, u in enumerate(used_per_prompt) if name not in u]
        if missing:
            out.append((f"prompts[{missing[0]}]", f"does not name the input field {{{name}}}; with input.fields "
                                                 f"every template names every field"))
    return out


# ---------------------------------------------------------------- loading with include

def _merge(base: Mapping, over: Mapping) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_task_data(path: Path, _chain: tuple[Path, ...] = ()) -> dict:
    """The merged mapping of a task file (its includes resolved, ``include`` removed)."""
    path = Path(path)
    where = f"task file {path}"
    try:
        data = S.load_yaml(path, where)
    except S.SchemaError as exc:  # duplicated key, invalid YAML: one error type for every task-file problem
        raise TaskFileError(exc.problems) from None
    if not isinstance(data, dict):
        raise TaskFileError(f"{where}: must be a mapping of task fields, got {type(data).__name__}")
    include = data.pop("include", None)
    if include is None:
        return data
    if not isinstance(include, str) or not include.strip() or "/" in include or "\\" in include:
        raise TaskFileError(f"{where}: include: must name a file in the same folder, got {include!r}")
    target = path.parent / include
    if target.resolve() in {p.resolve() for p in (*_chain, path)}:
        raise TaskFileError(f"{where}: include: {include} includes itself (chain: "
                            f"{' -> '.join(p.name for p in (*_chain, path, target))})")
    if not target.is_file():
        raise TaskFileError(f"{where}: include: {include} does not exist in {path.parent}")
    return _merge(load_task_data(target, (*_chain, path)), data)


@dataclass(frozen=True)
class Task:
    """A validated task file. ``data`` is the merged mapping (the single source of truth)."""

    id: str
    path: Path
    data: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    @property
    def group(self) -> str:
        return self.data["group"]

    @property
    def variants(self) -> tuple[str, ...]:
        return tuple(self.data["variants"])

    @property
    def training_only(self) -> bool:
        return bool(self.data.get("training_only", False))

    @property
    def prompts(self) -> tuple[str, ...]:
        return tuple(self.data["prompts"])

    @property
    def folder(self) -> str:
        return f"{self.data['domain']}_{self.data['modality']}"

    @cached_property
    def raw_splits(self) -> dict[str, list[str]]:
        """Output split -> the raw split names it reads."""
        splits = self.data["splits"]
        out = {"train": list(splits["train"])}
        if splits["test"] is not None:
            out["test"] = [splits["test"]]
        return out

    def source_patterns(self, raw_split: str) -> list[str]:
        path = self.data["source"]["path"]
        return [p.replace("{split}", raw_split) for p in ([path] if isinstance(path, str) else path)]

    def dataset_name(self, variant: str) -> str:
        """The dataset_info.json name: the task id, plus the notation for a molecule notation variant."""
        return self.id if variant == "default" else f"{self.id}_{variant}"

    def to_json(self) -> dict:
        return {"id": self.id, "file": str(self.path), **self.data}


def parse_task(path: Path, converters: Mapping[str, Any] | None = None) -> Task:
    """Load, merge and validate one task file; :class:`TaskFileError` lists every problem."""
    path = Path(path)
    where = f"task file {path}"
    task_id = path.stem
    if not re.fullmatch(TASK_ID, task_id):
        raise TaskFileError(f"{where}: the file name (= task id) must match {TASK_ID}")
    data = load_task_data(path)
    problems = S.validate(data, TASK_SCHEMA, where)
    if not problems and converters is not None:
        name = data["source"]["converter"]
        if name not in converters:
            problems.append(f"{where}: source.converter: unknown converter {name!r}; expected one of "
                            f"{', '.join(sorted(converters))}")
        else:
            problems += S.validate(data["source"].get("options", {}), converters[name].options, where,
                                   "source.options")
            paths = data["source"]["path"]
            if not converters[name].routes_splits and not all(
                    "{split}" in p for p in ([paths] if isinstance(paths, str) else paths)):
                # without {split} every split would read the same rows: only a converter that routes rows
                # to their split (a row field, a seeded permutation) may share one file between splits
                problems.append(f"{where}: source.path: must contain {{split}} (it stands for the raw split's "
                                f"name, e.g. raw/{{split}}/task.jsonl); converter {name!r} does not route rows "
                                f"of one file to their splits")
    if problems:
        raise TaskFileError(problems)
    return Task(task_id, path, data)

