"""The modality table: one entry per modality, read by everything that dispatches on a modality.

``serialization.wrap`` and ``unwrap`` (payload parsers, the control-token boundary regex), the free-text
control-token check, the ``{column|modality}`` placeholders of the LLaMA-Factory formatting and the
``biomatrix wrap --modality`` choices all derive from :data:`MODALITIES`, so a new modality is one entry
here (plus its two control-token strings in :mod:`biomatrix_plugin.vocab.tokens`, which the vocabulary
stage upstream needs without importing this one).

The two callables of an entry are given as ``"module:function"`` strings and imported on first use: the
functions live in :mod:`.serialization`, which imports this table, so naming them keeps the import
direction one-way (table <- serialization) without a cycle. A callable can also be given directly.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Union

from biomatrix_plugin.vocab.tokens import CONTROL_PHRASES, CONTROL_TOKENS

# value -> validated payload (the text between the control tokens); raises SerializationError
PayloadFn = Callable[[object], str]
# (payload, check_vocabulary) -> parsed value; raises SerializationError
ParseFn = Callable[[str, bool], object]


@dataclass(frozen=True)
class Modality:
    """One modality: its control tokens, how a value becomes a payload and back, and its vocabulary.

    ``category``: the vocabulary category (``vocab.vocabulary.CATEGORY_FILES`` key) of the tokens its
    payload is made of; None when the payload is ordinary text for the base BPE (SMILES).
    """

    name: str
    start: str
    end: str
    phrase: str  # "Begins a <phrase>" / "Ends a <phrase>": the control tokens' descriptions
    category: str | None
    payload: Union[str, PayloadFn]
    parse: Union[str, ParseFn]
    value_help: str  # what ``biomatrix wrap`` takes as VALUE for this modality

    def make_payload(self, value: object) -> str:
        return resolve(self.payload)(value)

    def parse_payload(self, payload: str, check_vocabulary: bool = True) -> object:
        return resolve(self.parse)(payload, check_vocabulary)

    def wrap_payload(self, payload: str) -> str:
        return f"{self.start}{payload}{self.end}"


_RESOLVED: dict[str, Callable] = {}


def resolve(ref: Union[str, Callable]) -> Callable:
    """A callable, or the function a ``"module:function"`` string names (imported once, then cached)."""
    if callable(ref):
        return ref
    fn = _RESOLVED.get(ref)
    if fn is None:
        module, _, name = ref.partition(":")
        fn = _RESOLVED[ref] = getattr(importlib.import_module(module), name)
    return fn


def _entry(name: str, category: str | None, value_help: str) -> Modality:
    start, end = CONTROL_TOKENS[name]
    ser = "biomatrix_plugin.modalities.serialization"
    return Modality(name, start, end, CONTROL_PHRASES[name], category,
                    payload=f"{ser}:{name}_payload", parse=f"{ser}:parse_{name}_payload", value_help=value_help)


MODALITIES: dict[str, Modality] = {
    m.name: m
    for m in (
        _entry("smiles", None, "a SMILES string"),
        _entry("selfies", "selfies", "a SELFIES string"),
        _entry("mol3d", "mol3d", "a MolStrucTok joint-token string ([C 12][Branch1 -1]...)"),
        _entry("protein", "residue", "an amino-acid sequence"),
        _entry("prot3d", "prot3d", "protein structure codes, ASCII integers separated by spaces or commas"),
    )
}


def names() -> tuple[str, ...]:
    return tuple(MODALITIES)


def boundary_key() -> tuple[tuple[str, str, str], ...]:
    """(name, start, end) of every entry: the cache key of regexes built over the control tokens, so a
    changed table (a test adding an entry) never meets a stale regex."""
    return tuple((m.name, m.start, m.end) for m in MODALITIES.values())
