"""The one validator style of the project: table-driven checks of YAML/JSON configuration.

A schema is a table of *kinds*, one per parameter (:class:`Str`, :class:`Int`, :class:`Float`, :class:`Bool`,
:class:`Enum`, :class:`StrList`, :class:`PathPattern`, :class:`Path`, :class:`MapOf` for a mapping whose values
share a kind, :class:`Spec` for a mapping with fixed sub-keys each of its own kind, :class:`ListOf`, and
:class:`Rule` for one extra check on top of a kind). :func:`validate` walks a value against a kind and returns
every problem, each naming the file and the dotted key path::

    card pubchem.yaml: builder.params.views.smile: unknown key; expected one of mol3d, selfies, smiles

Unknown keys are always errors (a typo never silently does nothing). :func:`load_yaml` reads a file with
``yaml.safe_load`` semantics but refuses a key written twice in one mapping (PyYAML keeps the last one).

The module knows nothing about corpora, tasks or models, so every configuration format of the package
(corpus cards, SFT task files, ...) states its rules as a table of these kinds instead of writing its own
validator. Base layer: imports only ``errors`` and ``io``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from biomatrix_plugin.errors import ConfigError

__all__ = [
    "SchemaError", "Problem", "Kind", "Any_", "Str", "Int", "Float", "Bool", "Enum", "StrList", "PathPattern",
    "Path", "Probability", "MapOf", "Spec", "ListOf", "Rule", "validate", "check", "load_yaml",
]


class SchemaError(ConfigError):
    """A configuration file breaks its schema; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Problem:
    key: str  # dotted key path ("builder.params.views.smile", "measures[0].kind"); "" for the whole value
    message: str

    def format(self, where: str) -> str:
        return ": ".join(part for part in (where, self.key, self.message) if part)


def _join(key: str, sub: str | int) -> str:
    if isinstance(sub, int):
        return f"{key}[{sub}]"
    return f"{key}.{sub}" if key else str(sub)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _one_of(names) -> str:
    return ", ".join(sorted(str(n) for n in names))


# ---------------------------------------------------------------- kinds

@dataclass(frozen=True)
class Kind:
    """One parameter kind. ``nullable``: ``null`` is allowed (a builder reads it as "no limit")."""

    nullable: bool = field(default=False, kw_only=True)
    doc: str = field(default="", kw_only=True)  # what the parameter means, for help texts

    def problems(self, value: Any, key: str = "") -> Iterator[Problem]:
        if value is None:
            if not self.nullable:
                yield Problem(key, "must not be null")
            return
        yield from self._check(value, key)

    def _check(self, value: Any, key: str) -> Iterator[Problem]:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Any_(Kind):
    """Anything, null included (a free-form block another schema checks)."""

    def problems(self, value, key=""):
        return iter(())


@dataclass(frozen=True)
class Str(Kind):
    nonempty: bool = False
    pattern: str | None = None  # full match, e.g. r"[a-z0-9][a-z0-9_]*"

    def _check(self, value, key):
        if not isinstance(value, str):
            yield Problem(key, f"must be a string, got {_show(value)}")
        elif self.nonempty and not value.strip():
            yield Problem(key, "must be a non-empty string")
        elif self.pattern is not None and not re.fullmatch(self.pattern, value):
            yield Problem(key, f"{_show(value)} must match {self.pattern}")


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def _bounds(lo, hi, lo_open: bool = False) -> str:
    lo, hi = (None if b is None else f"{b:g}" for b in (lo, hi))
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{lo}, {hi}]"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {lo}"
    return f" <= {hi}" if hi is not None else ""


@dataclass(frozen=True)
class Int(Kind):
    min: int | None = None
    max: int | None = None

    def _check(self, value, key):
        what = "a non-negative integer" if (self.min, self.max) == (0, None) else \
            f"an integer{_bounds(self.min, self.max)}"
        if isinstance(value, bool) or not isinstance(value, int):
            yield Problem(key, f"must be {what}, got {_show(value)}")
        elif (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            yield Problem(key, f"must be {what}, got {value}")


@dataclass(frozen=True)
class Float(Kind):
    """A finite number (``.nan`` / ``.inf`` are refused), ints accepted."""

    min: float | None = None
    max: float | None = None
    min_open: bool = False  # min itself is not allowed (a positive weight)
    what: str = "a number"  # "a probability"

    def _check(self, value, key):
        desc = f"{self.what}{_bounds(self.min, self.max, self.min_open)}"
        if not _is_number(value):
            yield Problem(key, f"must be {desc}, got {_show(value)}")
        elif not math.isfinite(value):
            yield Problem(key, f"must be a finite number ({desc}), got {value!r}")
        elif (self.min is not None and (value <= self.min if self.min_open else value < self.min)) or \
                (self.max is not None and value > self.max):
            yield Problem(key, f"must be {desc}, got {value!r}")


def Probability(**kw) -> Float:  # noqa: N802 - reads as a kind in a table
    return Float(min=0.0, max=1.0, what="a probability", **kw)


@dataclass(frozen=True)
class Bool(Kind):
    def _check(self, value, key):
        if not isinstance(value, bool):
            yield Problem(key, f"must be true or false, got {_show(value)}")


@dataclass(frozen=True)
class Enum(Kind):
    choices: tuple = ()

    def _check(self, value, key):
        try:
            ok = value in self.choices
        except TypeError:  # an unhashable value in a set of choices
            ok = False
        if not ok:
            yield Problem(key, f"{_show(value)} is not one of {', '.join(map(str, self.choices))}")


@dataclass(frozen=True)
class StrList(Kind):
    """A list of strings, optionally out of ``items``."""

    items: tuple[str, ...] | None = None
    nonempty: bool = False

    def _check(self, value, key):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            yield Problem(key, f"must be a list of strings, got {_show(value)}")
            return
        if self.nonempty and not value:
            yield Problem(key, "must not be empty")
        for i, v in enumerate(value):
            if self.items is not None and v not in self.items:
                yield Problem(_join(key, i), f"unknown item {v!r}; expected one of {_one_of(self.items)}")


@dataclass(frozen=True)
class Path(Kind):
    """A file or folder name (existence is checked where the data root is known, not here)."""

    relative: bool = False  # must not be absolute

    def _check(self, value, key):
        if not isinstance(value, str) or not value.strip():
            yield Problem(key, f"must be a path, got {_show(value)}")
        elif self.relative and (value.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", value)):
            yield Problem(key, f"{value!r} must be a relative path")


@dataclass(frozen=True)
class PathPattern(Kind):
    """A glob pattern, or (``many``) a non-empty list of them."""

    many: bool = True

    def _check(self, value, key):
        if isinstance(value, str):
            if not value.strip():
                yield Problem(key, "must be a path pattern, got an empty string")
            return
        if self.many and isinstance(value, list) and value:
            for i, v in enumerate(value):
                if not isinstance(v, str) or not v.strip():
                    yield Problem(_join(key, i), f"must be a path pattern, got {_show(v)}")
            return
        yield Problem(key, f"must be a path pattern{' or a list of them' if self.many else ''}, got {_show(value)}")


def _mapping_problem(value, key) -> Problem | None:
    if isinstance(value, Mapping):
        return None
    return Problem(key, f"must be a mapping, got {type(value).__name__} {_show(value)}")


@dataclass(frozen=True)
class MapOf(Kind):
    """A mapping whose values share one kind; keys out of ``keys`` (None: any string key)."""

    values: Kind = field(default_factory=Any_)
    keys: tuple[str, ...] | None = None

    def _check(self, value, key):
        if (bad := _mapping_problem(value, key)) is not None:
            yield bad
            return
        for k, v in value.items():
            if self.keys is not None and k not in self.keys:
                yield Problem(_join(key, str(k)), f"unknown key; expected one of {_one_of(self.keys)}")
                continue
            yield from self.values.problems(v, _join(key, str(k)))


@dataclass(frozen=True)
class Spec(Kind):
    """A mapping with fixed sub-keys, each of its own kind (a nested spec is a Spec value).

    ``rules`` are cross-field checks run when the fields themselves are valid: ``rule(value) -> iterable of
    (sub_key, message)`` with sub_key relative to this mapping ("" for the mapping itself)."""

    fields: Mapping[str, Kind] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    rules: tuple[Callable[[Mapping], Any], ...] = ()
    what: str = "key"  # "parameter of builder 'molecule'" reads better in a builder's params

    def _check(self, value, key):
        if (bad := _mapping_problem(value, key)) is not None:
            yield bad
            return
        found: list[Problem] = []
        for name in self.required:
            if name not in value:
                found.append(Problem(key, f"missing required key {name!r}"))
        for k in sorted(set(value) - set(self.fields), key=str):
            found.append(Problem(_join(key, str(k)), f"unknown {self.what}; expected one of {_one_of(self.fields)}"))
        for name, kind in self.fields.items():
            if name in value:
                found.extend(kind.problems(value[name], _join(key, name)))
        yield from found
        if not found:
            for rule in self.rules:
                for sub, message in rule(value):
                    yield Problem(_join(key, sub) if sub else key, message)


@dataclass(frozen=True)
class ListOf(Kind):
    item: Kind = field(default_factory=Any_)
    nonempty: bool = False

    def _check(self, value, key):
        if not isinstance(value, list):
            yield Problem(key, f"must be a list, got {type(value).__name__} {_show(value)}")
            return
        if self.nonempty and not value:
            yield Problem(key, "must not be empty")
        for i, v in enumerate(value):
            yield from self.item.problems(v, _join(key, i))


@dataclass(frozen=True)
class Rule(Kind):
    """``base`` plus one more check: ``test(value) -> message or None`` runs when ``base`` accepts the value."""

    base: Kind = field(default_factory=Any_)
    test: Callable[[Any], str | None] = lambda value: None

    def problems(self, value, key=""):
        found = list(self.base.problems(value, key))
        yield from found
        if not found and value is not None:
            message = self.test(value)
            if message:
                yield Problem(key, message)

    def _check(self, value, key):  # pragma: no cover - problems() is overridden
        return iter(())


# ---------------------------------------------------------------- entry points

def validate(value: Any, kind: Kind, where: str = "", key: str = "") -> list[str]:
    """Every problem of ``value`` against ``kind``, each formatted ``"<where>: <key path>: <message>"``."""
    return [p.format(where) for p in kind.problems(value, key)]


def check(value: Any, kind: Kind, where: str = "", key: str = "") -> Any:
    """``value`` if it is valid, else :class:`SchemaError` listing every problem."""
    problems = validate(value, kind, where, key)
    if problems:
        raise SchemaError(problems)
    return value


# ---------------------------------------------------------------- YAML with unique keys

class _DuplicateKey(Exception):
    def __init__(self, key, line: int, first: int):
        super().__init__(key, line, first)
        self.key, self.line, self.first = key, line, first


def _unique_key_loader():
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        """SafeLoader that refuses a key written twice in one mapping (merge keys ``<<`` may override)."""

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen: dict = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    k = self.construct_object(key_node, deep=True)
                    try:
                        first = seen.get(k)
                    except TypeError:  # unhashable key: SafeLoader reports it below
                        continue
                    if first is not None:
                        raise _DuplicateKey(k, key_node.start_mark.line + 1, first)
                    seen[k] = key_node.start_mark.line + 1
            return super().construct_mapping(node, deep)

    return UniqueKeyLoader


def load_yaml(path, where: str | None = None) -> Any:
    """Load a YAML file with safe_load semantics; a duplicated key, invalid YAML or non-UTF-8 text is a
    :class:`SchemaError` naming ``where`` (default: the path) and the line. A missing file is an
    :class:`~biomatrix_plugin.errors.InputFileError`."""
    import yaml

    from biomatrix_plugin.errors import InputFileError
    from biomatrix_plugin.io import open_text

    where = where or str(path)
    try:
        with open_text(path) as fh:
            return yaml.load(fh, Loader=_unique_key_loader())  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
        raise SchemaError(f"{where}: line {exc.line}: key {exc.key!r} appears twice in one mapping (first on "
                          f"line {exc.first}); YAML would silently keep the last") from None
    except yaml.YAMLError as exc:  # a Python tag (!!python/...) is one too: safe loading refuses it
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise SchemaError(f"{where}: not valid YAML{at} ({problem})") from None
    except InputFileError as exc:
        if "not UTF-8" in str(exc):
            raise SchemaError(f"{where}: not UTF-8 text") from None
        raise
