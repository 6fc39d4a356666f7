"""Reading the answer out of a generation, per a task file's ``eval.readout`` (tasks.spec.READOUTS).

A model answers in words around the answer ("The molecular formula is C6H6O."); the metrics compare the
answer alone. Each readout returns :class:`ReadOut`: the value the metric scores and, when nothing
usable was found, an empty value with the reason (the metric then counts the item as invalid or wrong,
and ``eval run`` reports how many items each reason hit, so nothing is lost silently).

- ``molecule``: the first well-formed segment of the variant's notation (``<|mol_smi_start|>...``); a
  generation without any wrapper is read as a bare molecule string (a model trained without wrappers);
  an unclosed or malformed segment (cut by ``max_new_tokens``) is unreadable, not a guess.
- ``first_number``: the first number of the text (the unit follows the number in our responses).
- ``label``: the task's verbalised label the answer states (whole answer, then its first word, then the only
  label named in it); no label or two labels named = unreadable.
- ``text``: the answer as written (stripped).
- ``formula``: the answer when it is a formula, else its first formula-like word (``C9H8O4``, ``C2H3O2-``).
- ``option_letter``: the letter of a multiple-choice answer (``B``, ``(B)``, ``B.``, ``answer is B``).
- ``protein``: the first well-formed ``<|prot_aa_start|>`` segment, or a bare uppercase sequence.
- ``label_set``: the answer's labels, split on the task's separator (``response.sep``), re-joined with it.
- ``mol3d`` / ``protein3d``: decoded structures (joint tokens -> 3D molecule through MolStrucTok; GCP-VQVAE
  codes -> CA trace through a protein3d decoder). They need model weights, so their readers live in their
  own modules (:data:`LAZY_READERS`), imported only by tasks that use them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

# readout -> what it needs from the task file besides the text
NOTATION_MODALITY = {"smiles": "smiles", "selfies": "selfies"}

_NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_ELEMENT_RUN = r"(?:[A-Z][a-z]?\d*)+"
_FORMULA = re.compile(rf"{_ELEMENT_RUN}(?:\.\d*{_ELEMENT_RUN})*(?:\d*[+-]|[+-]\d*)?")  # 2+ or RDKit's +2
_WORD_SPLIT = re.compile(r"[\s,;:()\[\]\"'`]+")
# most specific first: "B" / "(B)." alone, "the answer is B", "B) ...", "B ..." (an article "A ..." only
# then), finally any standalone capital A-J
_OPTION_PATTERNS = (
    re.compile(r"^\s*\(?([A-J])\)?[.:]?\s*$"),
    re.compile(r"\b(?:answer|option|choice)\s*(?:is|:)?\s*\(?([A-J])(?![A-Za-z])", re.IGNORECASE),
    re.compile(r"^\s*\(?([A-J])[).:]"),
    re.compile(r"^\s*([A-J])\s"),
    re.compile(r"(?<![A-Za-z])\(?([A-J])\)?(?![A-Za-z])"),
)
_TRAILING_PUNCT = ".!?。 \t\r\n"


@dataclass(frozen=True)
class ReadOut:
    value: Any  # what the metric scores ("" when nothing usable was found)
    reason: str | None = None  # why nothing usable was found


@dataclass(frozen=True)
class ReadoutSpec:
    """What a readout needs to know about the task: its kind, the variant (notation), the label set."""

    kind: str
    variant: str = "default"
    labels: tuple[str, ...] = ()
    sep: str = "; "  # label_set: the task's separator

    @classmethod
    def for_task(cls, task_data: Mapping[str, Any], variant: str) -> "ReadoutSpec":
        response = task_data.get("response", {})
        labels = response.get("labels") or {}
        # the verbalised answers, each once, in the file's order
        return cls(task_data["eval"]["readout"], variant, tuple(dict.fromkeys(labels.values())),
                   response.get("sep", "; "))


def read_molecule(text: str, spec: ReadoutSpec) -> ReadOut:
    from biomatrix_plugin.modalities.serialization import unwrap

    if "<|" not in text:
        bare = text.strip()
        return ReadOut(bare) if bare else ReadOut("", "empty")
    # vocabulary not checked: a symbol outside it is for RDKit/SELFIES (the metric) to judge, not the reader
    found = unwrap(text, check_vocabulary=False)
    wanted = NOTATION_MODALITY.get(spec.variant)
    molecule_segments = [s for s in found.segments if s.modality in ("smiles", "selfies", "mol3d")]
    for seg in molecule_segments:
        if wanted is None or seg.modality == wanted:
            if seg.ok:
                return ReadOut(str(seg.value))
            return ReadOut("", f"malformed {seg.modality} segment ({seg.error})")
    if molecule_segments:
        return ReadOut("", f"no {wanted} segment (found {molecule_segments[0].modality})")
    return ReadOut("", "no molecule segment")


def read_first_number(text: str, spec: ReadoutSpec) -> ReadOut:
    m = _NUMBER.search(text)
    if not m:
        return ReadOut("", "no number")
    return ReadOut(m.group().replace("−", "-"))


def _norm(text: str) -> str:
    return " ".join(text.strip().strip(_TRAILING_PUNCT).split()).lower()


def read_label(text: str, spec: ReadoutSpec) -> ReadOut:
    if not spec.labels:
        return ReadOut(text.strip())  # no label set declared: the metric compares the text itself
    by_norm = {_norm(label): label for label in spec.labels}
    whole = _norm(text)
    if whole in by_norm:
        return ReadOut(by_norm[whole])
    # "No, it does not." / "Yes - it crosses": the leading label (longest first: "not toxic" before "not")
    for norm in sorted(by_norm, key=len, reverse=True):
        if re.match(rf"{re.escape(norm)}(?![\w])", whole):
            return ReadOut(by_norm[norm])
    named = [label for norm, label in by_norm.items() if re.search(rf"(?<![\w]){re.escape(norm)}(?![\w])", whole)]
    if len(named) == 1:
        return ReadOut(named[0])
    if not whole:
        return ReadOut("", "empty")
    return ReadOut("", "no label of the task's label set" if not named else f"several labels ({', '.join(named)})")


def read_text(text: str, spec: ReadoutSpec) -> ReadOut:
    stripped = text.strip()
    return ReadOut(stripped) if stripped else ReadOut("", "empty")


def read_formula(text: str, spec: ReadoutSpec) -> ReadOut:
    stripped = text.strip().rstrip(".")
    if _FORMULA.fullmatch(stripped):
        return ReadOut(stripped)
    words = [w.rstrip(".") for w in _WORD_SPLIT.split(text) if w]
    formulas = [w for w in words if _FORMULA.fullmatch(w)]
    # a formula has a count or two elements; a lone capital word ("I", "The" does not match) is no formula
    strong = [w for w in formulas if re.search(r"\d", w) or len(re.findall(r"[A-Z]", w)) > 1]
    if strong or formulas:
        return ReadOut((strong or formulas)[0])
    return ReadOut("", "no formula" if stripped else "empty")


def read_option_letter(text: str, spec: ReadoutSpec) -> ReadOut:
    for pattern in _OPTION_PATTERNS:
        m = pattern.search(text)
        if m:
            return ReadOut(m.group(1).upper())
    return ReadOut("", "no option letter" if text.strip() else "empty")


def read_protein(text: str, spec: ReadoutSpec) -> ReadOut:
    from biomatrix_plugin.modalities.serialization import unwrap

    if "<|" not in text:
        bare = "".join(text.split())
        if not bare:
            return ReadOut("", "empty")
        return ReadOut(bare) if bare.isascii() and bare.isalpha() and bare.isupper() else \
            ReadOut("", "no protein segment")
    found = unwrap(text, check_vocabulary=False)
    for seg in found.segments:
        if seg.modality == "protein":
            return ReadOut(str(seg.value)) if seg.ok else ReadOut("", f"malformed protein segment ({seg.error})")
    return ReadOut("", "no protein segment")


def read_label_set(text: str, spec: ReadoutSpec) -> ReadOut:
    sep = spec.sep.strip() or spec.sep
    labels = dict.fromkeys(" ".join(p.split()) for p in text.strip().rstrip(".").split(sep))
    labels.pop("", None)
    return ReadOut(spec.sep.join(labels)) if labels else ReadOut("", "empty")


# structure readouts decode through model weights: their modules are imported on first use only
LAZY_READERS = {
    "mol3d": "biomatrix_plugin.eval.readout_mol3d:read_mol3d",
    "protein3d": "biomatrix_plugin.eval.readout_protein3d:read_protein3d",
}


def _lazy(name: str) -> Callable[[str, ReadoutSpec], ReadOut]:
    def reader(text: str, spec: ReadoutSpec) -> ReadOut:
        import importlib

        module, _, function = LAZY_READERS[name].partition(":")
        return getattr(importlib.import_module(module), function)(text, spec)

    reader.__name__ = f"read_{name}"
    return reader


READERS: dict[str, Callable[[str, ReadoutSpec], ReadOut]] = {
    "molecule": read_molecule,
    "first_number": read_first_number,
    "label": read_label,
    "text": read_text,
    "formula": read_formula,
    "option_letter": read_option_letter,
    "protein": read_protein,
    "label_set": read_label_set,
    **{name: _lazy(name) for name in LAZY_READERS},
}


def read_out(text: str, spec: ReadoutSpec) -> ReadOut:
    """The answer in one generation (``text`` already cleaned of Qwen's terminators by the backend)."""
    reader = READERS.get(spec.kind)
    if reader is None:  # the task schema allows only READERS' names; a new readout needs a reader here
        raise KeyError(f"no reader for readout {spec.kind!r}; known: {', '.join(READERS)}")
    return reader(text if isinstance(text, str) else "", spec)


def read_all(texts: Sequence[str], spec: ReadoutSpec) -> list[ReadOut]:
    return [read_out(t, spec) for t in texts]
