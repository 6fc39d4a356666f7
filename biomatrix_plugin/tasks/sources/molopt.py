"""MolOpt-Instructions (DrugAssist; HF ``blazerye/MolOpt-Instructions``): alpaca rows ``instruction, input,
output`` whose sub-task (which property, which direction) is only stated in the instruction's words.

One converter reads every row of a file and keeps the rows of the task's ``subtask`` (``qed+``, ...,
``qed+bbbp+``, or ``others``: every determined goal that is none of the eight evaluated ones). A row whose
property or direction cannot be read from the instruction, whose molecules cannot be found, or that belongs
to another sub-task is routed (converters.OtherSubtask: counted in the manifest, not a reject).

The molecules sit untagged in free text: the source molecule in ``input`` when it is filled, else in the
instruction; the optimised molecule in ``output`` (alone, or inside a sentence). A molecule inside text is
found by parsing the text's SMILES-looking words with RDKit (not by position); exactly one distinct molecule
must be found.

Test rows carry, as their reference, what ``correct_loose``/``correct_strict`` score against
(:class:`OptimisedMolecule`): the source molecule in the variant's notation and the goal.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Mapping

from biomatrix_plugin import schema as S
from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.modalities.serialization import has_whitespace
from biomatrix_plugin.tasks import entities
from biomatrix_plugin.tasks.converters import Context, ConverterSpec, Example, OtherSubtask, field

# ---------------------------------------------------------------- the goal stated in an instruction

# property (eval.properties name) -> how instructions name it. DrugAssist's evaluation prompts
# (evaluate/small_molecule_editing.py task_specification_dict_molecule[_strict]) are the model: "more like a
# drug", "QED value", "hydrogen bond acceptors", "water solubility", "blood-brain barrier penetration (BBBP)",
# "hERG inhibition". logP, TPSA and molecular weight are the other properties DrugAssist's code knows; they
# can only be among "others".
PROPERTY_WORDS: dict[str, str] = {
    "qed": r"\bqed\b|drug[- ]?like(?:ness)?|like a drug|drug[- ]likeness",
    "hba": r"(?:hydrogen[- ]bond|h[- ]bond)\s+acceptors?|\bhbas?\b",
    "hbd": r"(?:hydrogen[- ]bond|h[- ]bond)\s+donors?|\bhbds?\b",
    "esol": r"solubility|\bsoluble\b|\besol\b",
    "bbbp": r"blood[- ]brain[- ]barrier|\bbbbp\b|\bbbb\b",
    "herg": r"\bherg\b",
    "logp": r"\blog\s?p\b|lipophilicity|octanol",
    "tpsa": r"\btpsa\b|polar surface area",
    "mw": r"molecular weight",
}
_PROPERTY_RES = {name: re.compile(words, re.IGNORECASE) for name, words in PROPERTY_WORDS.items()}
# "(BBBP)" after "blood-brain barrier penetration" names the same property once: mentions that overlap or
# follow each other within a parenthesis are one mention
_INCREASE = r"increas\w*|rais\w*|improv\w*|enhanc\w*|boost\w*|higher|more|greater|maximi[sz]\w*|strengthen\w*"
_DECREASE = r"decreas\w*|reduc\w*|lower\w*|less|fewer|minimi[sz]\w*|weaken\w*|diminish\w*|cut down"
_DIRECTION = re.compile(rf"\b(?:(?P<up>{_INCREASE})|(?P<down>{_DECREASE}))\b", re.IGNORECASE)
# a direction word belongs to the property named in the same clause
_CLAUSE_BREAK = re.compile(r"[.;!?]\s|,\s|\band\b|\bwhile\b|\bbut\b|\bwhereas\b", re.IGNORECASE)

# the eight evaluated sub-tasks (DrugAssist's task names) -> their goal, property -> +1 increase / -1 decrease
SUBTASKS: dict[str, dict[str, int]] = {
    "qed+": {"qed": 1},
    "acceptor+": {"hba": 1},
    "donor+": {"hbd": 1},
    "esol+": {"esol": 1},
    "bbbp+": {"bbbp": 1},
    "herg-": {"herg": -1},
    "esol+acceptor+": {"esol": 1, "hba": 1},
    "qed+bbbp+": {"qed": 1, "bbbp": 1},
}
OTHERS = "others"
GOAL_WORDS = {"qed": "QED (drug-likeness)", "hba": "the number of hydrogen bond acceptors",
              "hbd": "the number of hydrogen bond donors", "esol": "water solubility",
              "bbbp": "blood-brain barrier penetration", "herg": "hERG inhibition", "logp": "logP",
              "tpsa": "the topological polar surface area", "mw": "the molecular weight"}


def _clause_start(text: str, at: int) -> int:
    start = 0
    for m in _CLAUSE_BREAK.finditer(text, 0, at):
        start = m.end()
    return start


def _clause_end(text: str, at: int) -> int:
    m = _CLAUSE_BREAK.search(text, at)
    return m.start() if m else len(text)


def read_goal(instruction: str, where: str = "instruction") -> dict[str, int]:
    """property -> +1/-1 as the instruction states it; a reject when no property is named, or a named
    property has no (or conflicting) direction in its clause."""
    goal: dict[str, int] = {}
    for name, pattern in _PROPERTY_RES.items():
        for m in pattern.finditer(instruction):
            start, end = _clause_start(instruction, m.start()), _clause_end(instruction, m.end())
            before = list(_DIRECTION.finditer(instruction, start, m.start()))
            after = list(_DIRECTION.finditer(instruction, m.end(), end))
            # nearest word before the property ("increase its QED"), else after ("QED to be higher")
            hit = before[-1] if before else (after[0] if after else None)
            if hit is None:
                continue  # a second mention ("... its QED value") without a verb of its own
            sign = 1 if hit.group("up") else -1
            if goal.get(name, sign) != sign:
                raise RecordRejected(f"{where}: conflicting directions for {name} in {instruction[:80]!r}")
            goal[name] = sign
        if name not in goal and pattern.search(instruction):
            raise RecordRejected(f"{where}: {name} is named but no direction (increase/decrease) goes with it "
                                 f"in {instruction[:80]!r}")
    if not goal:
        raise RecordRejected(f"{where}: no property this converter knows ({', '.join(PROPERTY_WORDS)}) is named; "
                             f"the sub-task cannot be determined from {instruction[:80]!r}")
    return goal


def subtask_of(goal: Mapping[str, int]) -> str:
    for name, wanted in SUBTASKS.items():
        if dict(goal) == wanted:
            return name
    return OTHERS


def goal_text(goal: Mapping[str, int]) -> str:
    """'increase QED (drug-likeness) and decrease hERG inhibition' (the {target} of the others task)."""
    return " and ".join(f"{'increase' if sign > 0 else 'decrease'} {GOAL_WORDS[p]}" for p, sign in goal.items())


# ---------------------------------------------------------------- molecules inside free text

_SMILES_WORD = re.compile(r"[A-Za-z0-9@+\-\[\]()=#$%/\\.:*]+")
_SMILES_SYNTAX = re.compile(r"[\[\]()=#@0-9/\\+]")
_BARE_ATOMS = re.compile(r"(?:Cl|Br|[BCNOPSFI]|[cnops])+")
# words made of atom letters that instructions use as words, not molecules
_NOT_MOLECULES = frozenset({"BBBP", "BBB", "CNS", "NO", "ON", "OF", "IN", "IS", "SO", "OR", "I", "A"})
_EDGE_PUNCT = "\"'`,;:?!“”‘’"


@functools.lru_cache(maxsize=1 << 16)
def _parses(word: str) -> bool:
    return entities._canonical_component(word) is not None if "." not in word else all(
        entities._canonical_component(p) is not None for p in word.split(".") if p)


def _trim(word: str) -> str:
    word = word.strip(_EDGE_PUNCT)
    word = word.rstrip(".")  # sentence end; a SMILES never ends with "."
    while word.endswith(")") and word.count(")") > word.count("("):
        word = word[:-1]
    while word.startswith("(") and word.count("(") > word.count(")"):
        word = word[1:]
    return word


def molecule_candidates(text: str) -> list[str]:
    """The distinct words of ``text`` that look like SMILES and that RDKit parses, in order."""
    found: list[str] = []
    for raw in text.split():
        word = _trim(raw)
        if len(word) < 2 or word.upper() in _NOT_MOLECULES or not _SMILES_WORD.fullmatch(word):
            continue
        if not (_SMILES_SYNTAX.search(word) or (len(word) >= 3 and _BARE_ATOMS.fullmatch(word))):
            continue  # plain words ("Can", "COOH"-less prose); a bare atom string needs 3+ atoms
        if word not in found and _parses(word):
            found.append(word)
    return found


def molecule_in_text(text: str, where: str) -> entities.Molecule:
    """The one molecule in ``text``: the whole text when it is a SMILES, else the only SMILES word in it."""
    stripped = _trim(text.strip())
    if stripped and not has_whitespace(stripped) and _parses(stripped):
        return entities.molecule(stripped, where)
    found = molecule_candidates(text)
    if not found:
        raise RecordRejected(f"{where}: no molecule (no word RDKit parses as SMILES) in {text[:80]!r}")
    canonical = {entities.molecule(w, where).smiles for w in found}
    if len(canonical) > 1:
        raise RecordRejected(f"{where}: {len(canonical)} different molecules in {text[:80]!r}; expected one")
    return entities.molecule(found[0], where)


# ---------------------------------------------------------------- the reference of a test row

def goal_reference(source: entities.Molecule, target: entities.Molecule, goal: Mapping[str, int]) -> dict:
    """What the MolOpt metrics score a prediction against: ``{"molecule": source, "property": [...],
    "direction": [...], "output": gold}`` (the molecules written in the variant's notation by the render;
    correct_loose / correct_strict read ``molecule``, ``property`` and ``direction``; ``output`` is the
    published answer, kept for reading the predictions)."""
    return {"molecule": source, "property": list(goal),
            "direction": ["increase" if s > 0 else "decrease" for s in goal.values()], "output": target}


# ---------------------------------------------------------------- the converter

def convert_molopt(row: Mapping[str, Any], ctx: Context) -> list[Example]:
    instruction = field(row, "instruction")
    if not isinstance(instruction, str) or not instruction.strip():
        raise RecordRejected("instruction: empty")
    goal = read_goal(instruction)
    found = subtask_of(goal)
    wanted = ctx.options["subtask"]
    if found != wanted:
        raise OtherSubtask(f"sub-task {found} (goal: {goal_text(goal)}), not this task's {wanted}")
    given = row.get("input")
    if given is not None and not isinstance(given, str):
        raise RecordRejected(f"input: expected text, got {type(given).__name__}")
    if given and given.strip():
        source = molecule_in_text(given, "input")
    else:
        source = molecule_in_text(instruction, "instruction")
    output = field(row, "output")
    if not isinstance(output, str) or not output.strip():
        raise RecordRejected("output: empty")
    target = molecule_in_text(output, "output")
    if target.smiles == source.smiles:
        raise RecordRejected(f"output: the optimised molecule is the input molecule ({source.smiles[:60]!r})")
    key = f"{source.smiles} {found}" if found != OTHERS else f"{source.smiles} {goal_text(goal)}"
    return [Example(source, target, key, target.smiles, goal_text(goal) if wanted == OTHERS else None,
                    reference=goal_reference(source, target, goal))]


MOLOPT_OPTIONS = S.Spec(fields={
    "subtask": S.Enum(choices=(*SUBTASKS, OTHERS)),
}, required=("subtask",), what="option of converter 'molopt'")

_SUMMARY = ("MolOpt-Instructions (blazerye/MolOpt-Instructions) instruction/input/output rows; sub-task "
            "from the instruction text")
CONVERTERS: dict[str, ConverterSpec] = {
    # train.json / val.json as HF's json loader reads them: one JSON array, or JSON lines (both are accepted by
    # DrugAssist's load_dataset("json")); which of the two the published files are was not seen
    "molopt": ConverterSpec(convert_molopt, "json_array", MOLOPT_OPTIONS, _SUMMARY + " (a JSON array file)"),
    "molopt_jsonl": ConverterSpec(convert_molopt, "jsonl", MOLOPT_OPTIONS, _SUMMARY + " (a JSON lines file)"),
}
