"""The data registry: one YAML card per dataset in ``data_registry/cards/``, and the LLaMA-Factory
``dataset_info.json`` generated from the cards merged with the hand-written ``manual_entries.json``.

Card schema (keys not listed here are errors, so a typo never silently does nothing)::

    name: pubchem_molecules            # dataset_info key, default output folder ([a-z0-9_]+)
    description: ...
    category: molecule                 # text | molecule | protein | cross-entity (Figure 2 groups)
    subcategory: General               # optional label inside the category (e.g. General / Scientific text)
    source: {name: PubChem, url: https://..., citation: "..."}
    license: "..."
    input: {format: sdf, path: "pubchem/*.sdf.gz", options: {extra_cells: ignore}}
    builder: {name: molecule, params: {...}}
    output: {file_name: corpus/pubchem_molecules}   # optional; relative to data_registry/ (dataset_dir);
                                                    # the build writes --out DIR/<its last component>
    sampling_weight: 0.24              # optional share of training tokens in the mixture
    seed: 0                            # optional, default 0
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from biomatrix_plugin.errors import ConfigError

CARD_KEYS = {"name", "description", "category", "subcategory", "source", "license", "input", "builder",
             "output", "sampling_weight", "seed"}
REQUIRED_CARD_KEYS = ("name", "category", "source", "license", "input", "builder")
CATEGORIES = ("text", "molecule", "protein", "cross-entity")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")

# What LLaMA-Factory 0.9.5 reads from a dataset_info.json entry (llamafactory/data/parser.py)
LF_SOURCE_KEYS = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name", "file_name")
LF_ENTRY_KEYS = set(LF_SOURCE_KEYS) | {"formatting", "ranking", "subset", "split", "folder", "num_samples",
                                      "columns", "tags"}
LF_COLUMN_KEYS = {"prompt", "query", "response", "history", "messages", "system", "tools", "images", "videos",
                  "audios", "chosen", "rejected", "kto_tag"}
LF_TAG_KEYS = {"role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag",
               "system_tag"}
LF_FORMATTINGS = {"alpaca", "sharegpt", "openai", "biomatrix"}  # biomatrix: registered by this plugin's hook
LF_FILE_EXTENSIONS = {"arrow", "csv", "json", "jsonl", "parquet", "txt"}


def output_folder(card_data: dict) -> str:
    """The folder a build writes under ``--out``: the last component of ``output.file_name`` (default: the
    card name), so that building into ``data_registry/corpus`` gives what ``file_name: corpus/<folder>``
    in dataset_info.json points at."""
    file_name = (card_data.get("output") or {}).get("file_name")
    return PurePosixPath(file_name).name if file_name else card_data["name"]


class CardError(ConfigError):
    """A card is invalid; the message names the card file and the field."""


def registry_dir() -> Path:
    """``$BIOMATRIX_DATA_REGISTRY``, else ``data_registry/`` of the source checkout."""
    env = os.environ.get("BIOMATRIX_DATA_REGISTRY")
    from biomatrix_plugin.paths import data_registry_dir

    return Path(env) if env else data_registry_dir()


@dataclass
class Card:
    path: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def category(self) -> str:
        return self.data["category"]

    @property
    def input_format(self) -> str:
        return self.data["input"]["format"]

    @property
    def input_path(self) -> str | list[str]:
        return self.data["input"]["path"]

    @property
    def input_options(self) -> dict:
        return dict(self.data["input"].get("options") or {})

    @property
    def builder(self) -> str:
        return self.data["builder"]["name"]

    @property
    def params(self) -> dict:
        return dict(self.data["builder"].get("params") or {})

    @property
    def seed(self) -> int:
        return int(self.data.get("seed", 0))

    @property
    def file_name(self) -> str:
        return (self.data.get("output") or {}).get("file_name", f"corpus/{self.name}")

    @property
    def output_folder(self) -> str:
        return output_folder(self.data)

    @property
    def sampling_weight(self) -> float | None:
        w = self.data.get("sampling_weight")
        return None if w is None else float(w)

    def dataset_info_entry(self) -> dict:
        return {"file_name": self.file_name, "columns": {"prompt": "text"}}


def _check_probabilities(where: str, mapping: Any, errors: list[str]) -> None:
    if not isinstance(mapping, dict):
        errors.append(f"{where}: expected a mapping of field -> probability")
        return
    for k, v in mapping.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
            errors.append(f"{where}.{k}: probability must be a number in [0, 1], got {v!r}")


def _check_measures(where: str, measures: Any, errors: list[str]) -> None:
    from biomatrix_plugin.corpus.interactions import MEASURE_KINDS

    if not isinstance(measures, list) or not measures:
        errors.append(f"{where}: expected a non-empty list of {{column, name, kind, ...}}")
        return
    for i, m in enumerate(measures):
        if not isinstance(m, dict) or not isinstance(m.get("column"), str):
            errors.append(f"{where}[{i}]: needs a 'column' (the input column holding the value)")
            continue
        for k in sorted(set(m) - {"column", "name", "kind", "scale", "unit", "min"}):
            errors.append(f"{where}[{i}]: unknown key {k!r} (allowed: column, name, kind, scale, unit, min)")
        if m.get("kind", "nM") not in MEASURE_KINDS:
            errors.append(f"{where}[{i}].kind {m.get('kind')!r} must be one of {', '.join(MEASURE_KINDS)}")
        for k in ("scale", "min"):
            if k in m and (isinstance(m[k], bool) or not isinstance(m[k], (int, float))):
                errors.append(f"{where}[{i}].{k} must be a number")


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def _check_params(path: str, builder: str, declared: dict, params: dict, errors: list[str]) -> None:
    """builder.params against the builder's declaration (builders.BuilderSpec.params)."""
    for key in sorted(set(params) - set(declared), key=str):
        errors.append(f"{path}: builder.params.{key}: unknown parameter of builder {builder!r} "
                      f"(allowed: {', '.join(sorted(declared))})")
    for key, spec in declared.items():
        if key not in params:
            continue
        value, where = params[key], f"{path}: builder.params.{key}"
        if value is None:
            if not spec.nullable:
                errors.append(f"{where} must not be null")
            continue
        if spec.kind in ("probabilities", "columns"):
            if not isinstance(value, dict):
                errors.append(f"{where}: expected a mapping of "
                              f"{'field -> probability' if spec.kind == 'probabilities' else 'field -> column name'}")
                continue
            if spec.keys is not None:
                for k in sorted(set(value) - set(spec.keys), key=str):
                    errors.append(f"{where}.{k}: unknown key (allowed: {', '.join(sorted(spec.keys))})")
            if spec.kind == "probabilities":
                _check_probabilities(where, value, errors)
            else:
                for k, v in value.items():
                    if not isinstance(v, str) or not v:
                        errors.append(f"{where}.{k}: column name must be a non-empty string, got {v!r}")
        elif spec.kind == "probability":
            if not _is_number(value) or not 0.0 <= float(value) <= 1.0:
                errors.append(f"{where}: probability must be a number in [0, 1], got {value!r}")
        elif spec.kind == "field_list":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors.append(f"{where} must be a list of field names")
            elif spec.keys is not None:
                for v in value:
                    if v not in spec.keys:
                        errors.append(f"{where}: unknown field {v!r} (allowed: {', '.join(sorted(spec.keys))})")
        elif spec.kind == "path":
            if not isinstance(value, str) or not value:
                errors.append(f"{where} must be a path")
        elif spec.kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                errors.append(f"{where} must be a non-negative integer, got {value!r}")
        elif spec.kind == "number":
            if not _is_number(value):
                errors.append(f"{where} must be a number, got {value!r}")
        elif spec.kind == "boolean":
            if not isinstance(value, bool):
                errors.append(f"{where} must be true or false, got {value!r}")
        elif spec.kind == "text":
            if not isinstance(value, str):
                errors.append(f"{where} must be a string, got {value!r}")
        elif spec.kind == "measures":
            _check_measures(f"{where}", value, errors)
        elif spec.kind == "vocabulary":
            # a bare word other than open/default is a typo ("defualt"), not a folder next to the cwd
            if not isinstance(value, str) or (value not in ("open", "default") and not any(
                    c in value for c in ("/", os.sep, "$", "~"))):
                errors.append(f"{where} {value!r} must be 'open', 'default' or the path of a vocabulary "
                              "directory (containing '/', e.g. ./my_vocab)")


def validate_card(data: Any, path: str) -> list[str]:
    """All problems of one card (empty list = valid)."""
    from biomatrix_plugin.corpus.builders import BUILDERS
    from biomatrix_plugin.corpus.records import FORMATS

    errors: list[str] = []
    if not isinstance(data, dict):
        return [f"{path}: a card must be a YAML mapping, got {type(data).__name__}"]
    for key in REQUIRED_CARD_KEYS:
        if key not in data:
            errors.append(f"{path}: missing required key {key!r}")
    for key in sorted(set(data) - CARD_KEYS):
        errors.append(f"{path}: unknown key {key!r} (allowed: {', '.join(sorted(CARD_KEYS))})")
    name = data.get("name")
    if name is not None and (not isinstance(name, str) or not NAME_RE.match(name)):
        errors.append(f"{path}: name {name!r} must match [a-z0-9][a-z0-9_]*")
    if "category" in data and data["category"] not in CATEGORIES:
        errors.append(f"{path}: category {data['category']!r} must be one of {', '.join(CATEGORIES)}")
    source = data.get("source")
    if source is not None and (not isinstance(source, dict) or not source.get("name")):
        errors.append(f"{path}: source must be a mapping with at least 'name' (and url, citation)")
    if "license" in data and (not isinstance(data["license"], str) or not data["license"].strip()):
        errors.append(f"{path}: license must be a non-empty string")
    inp = data.get("input")
    fmt = None
    if inp is not None:
        if not isinstance(inp, dict):
            errors.append(f"{path}: input must be a mapping with format and path")
        else:
            fmt = inp.get("format")
            if fmt not in FORMATS:
                errors.append(f"{path}: input.format {fmt!r} must be one of {', '.join(FORMATS)}")
            p = inp.get("path")
            if not p or not (isinstance(p, str) or (isinstance(p, list) and all(isinstance(x, str) for x in p))):
                errors.append(f"{path}: input.path must be a path pattern or a list of them")
            opts = inp.get("options") or {}
            if not isinstance(opts, dict) or set(opts) - {"extra_cells"}:
                errors.append(f"{path}: input.options allows only 'extra_cells'")
            elif opts.get("extra_cells", "reject") not in ("reject", "ignore"):
                errors.append(f"{path}: input.options.extra_cells must be 'reject' or 'ignore'")
            for k in sorted(set(inp) - {"format", "path", "options"}):
                errors.append(f"{path}: unknown key input.{k!r}")
    builder = data.get("builder")
    if builder is not None:
        if not isinstance(builder, dict) or "name" not in builder:
            errors.append(f"{path}: builder must be a mapping with 'name' (and optional params)")
        elif builder["name"] not in BUILDERS:
            errors.append(f"{path}: builder {builder['name']!r} is unknown; known: {', '.join(sorted(BUILDERS))}")
        else:
            spec = BUILDERS[builder["name"]]
            if fmt is not None and fmt in FORMATS and fmt not in spec.formats:
                errors.append(f"{path}: builder {builder['name']!r} does not read {fmt!r} (reads {', '.join(spec.formats)})")
            params = builder.get("params") or {}
            if not isinstance(params, dict):
                errors.append(f"{path}: builder.params must be a mapping")
            else:
                _check_params(path, builder["name"], spec.params, params, errors)
                if builder["name"] == "protein_ligand_complex" and fmt == "types" and "structure_root" not in params:
                    errors.append(f"{path}: builder.params.structure_root is required with a .types index "
                                  "(its receptor/ligand paths are relative to the unpacked CrossDocked2020 folder)")
            for k in sorted(set(builder) - {"name", "params"}):
                errors.append(f"{path}: unknown key builder.{k!r}")
    out = data.get("output")
    if out is not None:
        if not isinstance(out, dict) or set(out) - {"file_name"}:
            errors.append(f"{path}: output allows only 'file_name'")
        elif "file_name" in out and (not isinstance(out["file_name"], str) or os.path.isabs(out["file_name"])):
            errors.append(f"{path}: output.file_name must be a path relative to the registry directory")
        elif "file_name" in out and PurePosixPath(out["file_name"]).name in ("", ".", "..", "_build"):
            errors.append(f"{path}: output.file_name {out['file_name']!r} must end in a folder name (the build "
                          "writes --out DIR/<last component>; '_build' is the build's own folder)")
    w = data.get("sampling_weight")
    if w is not None and (isinstance(w, bool) or not isinstance(w, (int, float)) or w <= 0):
        errors.append(f"{path}: sampling_weight must be a positive number, got {w!r}")
    if "seed" in data and (isinstance(data["seed"], bool) or not isinstance(data["seed"], int)):
        errors.append(f"{path}: seed must be an integer")
    return errors


def load_card(path: str | Path) -> Card:
    import yaml

    path = str(path)
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise CardError(f"{path}: not valid YAML ({exc})") from None
    errors = validate_card(data, path)
    if errors:
        raise CardError("\n".join(errors))
    return Card(path, data)


def card_paths(registry: str | Path | None = None) -> list[Path]:
    registry = Path(registry) if registry else registry_dir()
    return sorted((registry / "cards").glob("*.yaml"))


def load_cards(registry: str | Path | None = None) -> list[Card]:
    return [load_card(p) for p in card_paths(registry)]


def manual_entries(registry: str | Path | None = None) -> dict:
    path = (Path(registry) if registry else registry_dir()) / "manual_entries.json"
    if not path.exists():
        return {}
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def generate_dataset_info(cards: list[Card], manual: dict) -> dict:
    """Manual entries first, then cards in name order; a name defined twice is an error."""
    info = dict(manual)
    seen: dict[str, str] = {}
    folders: dict[str, str] = {}
    for card in sorted(cards, key=lambda c: c.name):
        if card.name in seen:
            raise CardError(f"{card.path}: name {card.name!r} already used by {seen[card.name]}")
        if card.name in info:
            raise CardError(f"{card.path}: name {card.name!r} is also a hand-written entry in manual_entries.json")
        if card.output_folder in folders:  # both builds would write one --out DIR/<folder>
            raise CardError(f"{card.path}: output folder {card.output_folder!r} (output.file_name) is also "
                            f"the output folder of {folders[card.output_folder]}")
        seen[card.name] = card.path
        folders[card.output_folder] = card.path
        info[card.name] = card.dataset_info_entry()
    return info


def write_dataset_info(registry: str | Path | None = None) -> Path:
    registry = Path(registry) if registry else registry_dir()
    info = generate_dataset_info(load_cards(registry), manual_entries(registry))
    path = registry / "dataset_info.json"
    path.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def validate_dataset_info(info: Any, base_dir: str | Path | None = None, require_files: bool = False) -> tuple[list[str], list[str]]:
    """(errors, warnings) for a dataset_info.json object against what LLaMA-Factory 0.9.5 reads."""
    errors: list[str] = []
    warnings: list[str] = []
    if not isinstance(info, dict):
        return [f"dataset_info must be a JSON object, got {type(info).__name__}"], warnings
    for name, entry in info.items():
        where = f"dataset_info[{name!r}]"
        if not isinstance(entry, dict):
            errors.append(f"{where}: must be an object")
            continue
        for k in sorted(set(entry) - LF_ENTRY_KEYS):
            errors.append(f"{where}: key {k!r} is not read by LLaMA-Factory (allowed: {', '.join(sorted(LF_ENTRY_KEYS))})")
        sources = [k for k in LF_SOURCE_KEYS if k in entry]
        if not sources:
            errors.append(f"{where}: needs one of {', '.join(LF_SOURCE_KEYS)}")
        if entry.get("formatting", "alpaca") not in LF_FORMATTINGS:
            errors.append(f"{where}: formatting {entry['formatting']!r} must be one of {', '.join(sorted(LF_FORMATTINGS))}")
        if "ranking" in entry and not isinstance(entry["ranking"], bool):
            errors.append(f"{where}: ranking must be true/false")
        if "num_samples" in entry and (isinstance(entry["num_samples"], bool) or not isinstance(entry["num_samples"], int)):
            errors.append(f"{where}: num_samples must be an integer")
        for group, allowed in (("columns", LF_COLUMN_KEYS), ("tags", LF_TAG_KEYS)):
            if group in entry:
                if not isinstance(entry[group], dict):
                    errors.append(f"{where}: {group} must be an object")
                    continue
                for k in sorted(set(entry[group]) - allowed):
                    errors.append(f"{where}: {group}.{k} is not read by LLaMA-Factory (allowed: {', '.join(sorted(allowed))})")
        fname = entry.get("file_name")
        if "file_name" in entry and not isinstance(fname, str):
            errors.append(f"{where}: file_name must be a string")
        elif sources and sources[0] == "file_name" and base_dir is not None:
            # only when no hub/script/cloud key wins over it in LLaMA-Factory's parser
            _check_local_file(where, Path(base_dir) / fname, errors, warnings, require_files)
    return errors, warnings


def _check_local_file(where: str, path: Path, errors: list[str], warnings: list[str], require: bool) -> None:
    if path.is_dir():
        exts = {p.suffix.lstrip(".") for p in path.iterdir() if p.is_file()}
        if not exts:
            (errors if require else warnings).append(f"{where}: folder {path} is empty")
        elif len(exts) > 1:
            errors.append(f"{where}: folder {path} mixes file types {sorted(exts)}; LLaMA-Factory needs one")
        elif exts - LF_FILE_EXTENSIONS:
            errors.append(f"{where}: {path} holds .{exts.pop()} files; LLaMA-Factory reads {', '.join(sorted(LF_FILE_EXTENSIONS))}")
    elif path.is_file():
        if path.suffix.lstrip(".") not in LF_FILE_EXTENSIONS:
            errors.append(f"{where}: {path} has extension {path.suffix!r}; LLaMA-Factory reads {', '.join(sorted(LF_FILE_EXTENSIONS))}")
    else:
        (errors if require else warnings).append(f"{where}: {path} does not exist yet (build it with `biomatrix data build`)")


def check_registry(registry: str | Path | None = None, require_files: bool = False) -> tuple[list[str], list[str]]:
    """Validate every card, the merge, and the committed dataset_info.json (must equal the generated one)."""
    registry = Path(registry) if registry else registry_dir()
    errors: list[str] = []
    warnings: list[str] = []
    cards = []
    for path in card_paths(registry):
        try:
            cards.append(load_card(path))
        except CardError as exc:
            errors.extend(str(exc).splitlines())
    try:
        generated = generate_dataset_info(cards, manual_entries(registry))
    except (CardError, json.JSONDecodeError) as exc:
        return errors + [str(exc)], warnings
    e, w = validate_dataset_info(generated, registry, require_files)
    errors += e
    warnings += w
    committed = registry / "dataset_info.json"
    if not committed.exists():
        errors.append(f"{committed} is missing; run `biomatrix data check --write`")
    else:
        try:
            current = json.loads(committed.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            errors.append(f"{committed}: invalid JSON ({exc})")
        else:
            if current != generated:
                diff = sorted(set(current) ^ set(generated)) or sorted(k for k in generated if current.get(k) != generated[k])
                errors.append(f"{committed} is out of date with the cards (differs for {', '.join(diff[:8])}); "
                              "run `biomatrix data check --write`")
    if not errors:
        errors += _llamafactory_parse_errors(generated, registry)
    return errors, warnings


def _llamafactory_parse_errors(info: dict, registry: Path) -> list[str]:
    """Let LLaMA-Factory's own parser read every entry (catches anything the key lists above miss)."""
    try:
        from llamafactory.data.parser import get_dataset_list
    except ImportError:
        return []
    try:
        get_dataset_list(list(info), info)
    except Exception as exc:  # its parser raises plain ValueError/KeyError/TypeError
        return [f"LLaMA-Factory cannot parse the generated dataset_info: {type(exc).__name__}: {exc}"]
    return []
