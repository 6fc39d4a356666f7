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

from biomatrix_plugin.io import load_json
from biomatrix_plugin.schema import (
    Enum,
    Float,
    Int,
    MapOf,
    PathPattern,
    Rule,
    SchemaError,
    Spec,
    Str,
    load_yaml,
    validate,
)

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


class CardError(SchemaError):
    """A card is invalid; the message names the card file and the field (one line per problem)."""


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


def _file_name_rule(value: str) -> str | None:
    if os.path.isabs(value):
        return "must be a path relative to the registry directory"
    if PurePosixPath(value).name in ("", ".", "..", "_build"):
        return (f"{value!r} must end in a folder name (the build writes --out DIR/<last component>; '_build' "
                "is the build's own folder)")
    return None


def card_spec() -> Spec:
    """The schema of a card's top level; ``builder.params`` is checked by the builder's own declaration
    (:meth:`builders.BuilderSpec.params_spec`) once ``builder.name`` is known."""
    from biomatrix_plugin.corpus.builders import BUILDERS
    from biomatrix_plugin.corpus.records import FORMATS

    return Spec({
        "name": Str(pattern=NAME_RE.pattern[1:-1]),
        "description": Str(nullable=True),
        "category": Enum(CATEGORIES),
        "subcategory": Str(),
        "source": Spec({"name": Str(nonempty=True), "url": Str(), "citation": Str()}, required=("name",)),
        "license": Str(nonempty=True),
        "input": Spec({"format": Enum(tuple(FORMATS)), "path": PathPattern(),
                       "options": Spec({"extra_cells": Enum(("reject", "ignore"))}, nullable=True)},
                      required=("format", "path")),
        "builder": Spec({"name": Enum(tuple(sorted(BUILDERS))), "params": MapOf(nullable=True)}, required=("name",)),
        "output": Spec({"file_name": Rule(base=Str(nonempty=True), test=_file_name_rule)}),
        "sampling_weight": Float(min=0, min_open=True, nullable=True),
        "seed": Int(min=0),
    }, required=REQUIRED_CARD_KEYS)


def _builder_problems(data: dict, where: str) -> list[str]:
    """builder.params against the builder's declaration, and what a builder needs of the input."""
    from biomatrix_plugin.corpus.builders import BUILDERS

    builder, fmt = data["builder"]["name"], data["input"]["format"]
    spec = BUILDERS[builder]
    params = data["builder"].get("params") or {}
    errors = validate(params, spec.params_spec(builder), where, "builder.params")
    if fmt not in spec.formats:
        errors.append(f"{where}: builder {builder!r} does not read {fmt!r} (reads {', '.join(spec.formats)})")
    if builder == "protein_ligand_complex" and fmt == "types" and "structure_root" not in params:
        errors.append(f"{where}: builder.params.structure_root is required with a .types index "
                      "(its receptor/ligand paths are relative to the unpacked CrossDocked2020 folder)")
    return errors


def validate_card(data: Any, path: str) -> list[str]:
    """All problems of one card (empty list = valid), each naming the card and the dotted key."""
    where = f"card {path}"
    errors = validate(data, card_spec(), where)
    if errors or not isinstance(data, dict):
        return errors
    return _builder_problems(data, where)


def load_card(path: str | Path) -> Card:
    """Read and validate one card; a duplicated key is an error naming it and its line."""
    path = str(path)
    try:
        data = load_yaml(path, f"card {path}")
    except SchemaError as exc:
        raise CardError(exc.problems) from None
    errors = validate_card(data, path)
    if errors:
        raise CardError(errors)
    return Card(path, data)


def check_inputs(card: Card, root: str | Path) -> list[str]:
    """Problems of a card's input.path against the data root: every pattern must match a file."""
    from biomatrix_plugin.corpus.records import InputPatternError, resolve_inputs

    try:
        resolve_inputs(card.input_path, root, where=f"card {card.path}")
    except InputPatternError as exc:
        return str(exc).splitlines()
    return []


def card_paths(registry: str | Path | None = None) -> list[Path]:
    registry = Path(registry) if registry else registry_dir()
    return sorted((registry / "cards").glob("*.yaml"))


def load_cards(registry: str | Path | None = None) -> list[Card]:
    return [load_card(p) for p in card_paths(registry)]


def manual_entries(registry: str | Path | None = None) -> dict:
    path = (Path(registry) if registry else registry_dir()) / "manual_entries.json"
    if not path.exists():
        return {}
    return load_json(path)


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


def _sorted(names) -> str:
    return ", ".join(sorted(names))


def validate_dataset_info(info: Any, base_dir: str | Path | None = None,
                          require_files: bool = False) -> tuple[list[str], list[str]]:
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
            errors.append(f"{where}: key {k!r} is not read by LLaMA-Factory (allowed: {_sorted(LF_ENTRY_KEYS)})")
        sources = [k for k in LF_SOURCE_KEYS if k in entry]
        if not sources:
            errors.append(f"{where}: needs one of {', '.join(LF_SOURCE_KEYS)}")
        if entry.get("formatting", "alpaca") not in LF_FORMATTINGS:
            errors.append(f"{where}: formatting {entry['formatting']!r} must be one of {_sorted(LF_FORMATTINGS)}")
        if "ranking" in entry and not isinstance(entry["ranking"], bool):
            errors.append(f"{where}: ranking must be true/false")
        n = entry.get("num_samples")
        if "num_samples" in entry and (isinstance(n, bool) or not isinstance(n, int)):
            errors.append(f"{where}: num_samples must be an integer")
        for group, allowed in (("columns", LF_COLUMN_KEYS), ("tags", LF_TAG_KEYS)):
            if group in entry:
                if not isinstance(entry[group], dict):
                    errors.append(f"{where}: {group} must be an object")
                    continue
                for k in sorted(set(entry[group]) - allowed):
                    errors.append(f"{where}: {group}.{k} is not read by LLaMA-Factory (allowed: {_sorted(allowed)})")
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
            errors.append(f"{where}: {path} holds .{exts.pop()} files; LLaMA-Factory reads "
                          f"{_sorted(LF_FILE_EXTENSIONS)}")
    elif path.is_file():
        if path.suffix.lstrip(".") not in LF_FILE_EXTENSIONS:
            errors.append(f"{where}: {path} has extension {path.suffix!r}; LLaMA-Factory reads "
                          f"{_sorted(LF_FILE_EXTENSIONS)}")
    else:
        (errors if require else warnings).append(f"{where}: {path} does not exist yet "
                                                 "(build it with `biomatrix data build`)")


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
                diff = sorted(set(current) ^ set(generated)) or \
                    sorted(k for k in generated if current.get(k) != generated[k])
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
