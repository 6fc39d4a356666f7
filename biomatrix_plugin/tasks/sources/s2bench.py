"""S²-Bench (= TOMG-Bench) and its training set OpenMolIns (phenixace/S2-TOMG-Bench, phenixace/OpenMolIns-*):
the nine open-molecule-generation sub-tasks MolEdit (AddComponent, DelComponent, SubComponent), MolCustom
(AtomNum, BondNum, FunctionalGroup) and MolOpt (LogP, MR, QED).

Published files (Hugging Face dataset repos, each downloaded into a folder of its own name)::

    RAW/s2bench/OpenMolIns-xlarge/train.csv            SubTask, Instruction, molecule (1.2M rows, all nine)
    RAW/s2bench/S2-TOMG-Bench/MolEdit_AddComponent.csv index, Instruction, molecule, added_group
    ...                       MolEdit_DelComponent.csv index, Instruction, molecule, removed_group
                              MolEdit_SubComponent.csv index, Instruction, molecule, removed_group, added_group
                              MolCustom_AtomNum.csv    Instruction, carbon, oxygen, ... (17 element counts)
                              MolCustom_BondNum.csv    Instruction, single, double, triple, rotatable, aromatic
                              MolCustom_FunctionalGroup.csv  Instruction, benzene rings, hydroxyl, ... (19)
                              MolOpt_{LogP,MR,QED}.csv index, Instruction, molecule, logP | MR | QED

In ``train.csv`` the ``molecule`` column is the TARGET; the input molecule of an editing or optimisation row
exists only inside the free-text ``Instruction`` (no tag, no column), and the generator's slot bug can put it
where the group name should be ("Modify the molecule hydroxyl by substituting a CCO with a nitro."). So
the input molecule is the one token of the instruction that RDKit parses (never a template position), and
the group names are the vocabulary words left in the text, in order. Everything the prompt needs is read
into fields (molecule, group names, direction, counts) and written with this task's own prompt pool; both
notations render the same canonical molecule.

A test row has no gold molecule: S²-Bench scores the output against the row's side information. The test
example's output is therefore the metric's reference object (see
:mod:`biomatrix_plugin.eval.molecule_design`): ``{"molecule", "added_group" / "removed_group"}`` (MolEdit),
the per-column counts (MolCustom), ``{"molecule", "property", "direction"}`` (MolOpt). Its input molecule is
written wrapped (``<|mol_smi_start|>...<|mol_smi_end|>``), so the metric reads it as SMILES whichever notation
the predictions are in (one reference object serves both variants).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

from biomatrix_plugin import schema as S
from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.errors import ConfigError
from biomatrix_plugin.modalities.serialization import wrap_smiles
from biomatrix_plugin.tasks import entities
from biomatrix_plugin.tasks.converters import Context, ConverterSpec, Example, OtherSubtask, PrepareContext, field

SUBTASKS = ("AddComponent", "DelComponent", "SubComponent", "AtomNum", "BondNum", "FunctionalGroup",
            "LogP", "MR", "QED")
FAMILY = {"AddComponent": "edit", "DelComponent": "edit", "SubComponent": "edit",
          "AtomNum": "custom", "BondNum": "custom", "FunctionalGroup": "custom",
          "LogP": "opt", "MR": "opt", "QED": "opt"}
# the benchmark file of each sub-task (the raw split name of its test split)
BENCHMARK_FILES = {"AddComponent": "MolEdit_AddComponent", "DelComponent": "MolEdit_DelComponent",
                   "SubComponent": "MolEdit_SubComponent", "AtomNum": "MolCustom_AtomNum",
                   "BondNum": "MolCustom_BondNum", "FunctionalGroup": "MolCustom_FunctionalGroup",
                   "LogP": "MolOpt_LogP", "MR": "MolOpt_MR", "QED": "MolOpt_QED"}
DEFAULT_TRAIN_FOLDER = "OpenMolIns-xlarge"  # the report's 1.2M rows (Table 31: 3 x 133,334 + 6 x 133,333)
DEFAULT_BENCHMARK_FOLDER = "S2-TOMG-Bench"

# ---------------------------------------------------------------- vocabularies (TOMG-Bench's generator)

# MolEdit groups; the DelComponent benchmark writes "benzene_ring", the training file "benzene ring"
EDIT_GROUPS = ("benzene ring", "hydroxyl", "aldehyde", "carboxyl", "amide", "amine", "nitro", "halo", "nitrile",
               "thiol")
_EDIT_GROUP = re.compile(r"\b(benzene[ _]ring|hydroxyl|aldehyde|carboxyl|amide|amine|nitro|halo|nitrile|thiol)\b")
# MolCustom: the count columns of each benchmark file, in file order (also the names the instructions use)
ELEMENTS = ("carbon", "oxygen", "nitrogen", "sulfur", "fluorine", "chlorine", "bromine", "iodine", "phosphorus",
            "boron", "silicon", "selenium", "tellurium", "arsenic", "antimony", "bismuth", "polonium")
BONDS = ("single", "double", "triple", "rotatable", "aromatic")
GROUPS = ("benzene rings", "hydroxyl", "anhydride", "aldehyde", "ketone", "carboxyl", "ester", "amide", "amine",
          "nitro", "halo", "thioether", "nitrile", "thiol", "sulfide", "disulfide", "sulfoxide", "sulfone",
          "borane")
# TOMG-Bench's evaluate.py checks every FunctionalGroup column except thioether (its data has one, its
# checker's list does not), so the reference leaves it out and custom_sr scores exactly what it scores
UNCHECKED_GROUPS = ("thioether",)
CUSTOM_COLUMNS = {"AtomNum": ELEMENTS, "BondNum": BONDS, "FunctionalGroup": GROUPS}
CUSTOM_UNIT = {"AtomNum": ("atom", "atoms"), "BondNum": ("bond", "bonds"), "FunctionalGroup": ("group", "groups")}
# "8 carbon atoms", "1 benzene ring group", "2 benzene rings groups" (the benchmark's wording)
_COUNT = re.compile(r"(\d+)\s+([a-z][a-z ]*?)\s+(atoms?|bonds?|groups?)\b")
PROPERTY = {"LogP": "logP", "MR": "MR", "QED": "QED"}  # names the opt metrics' oracles know
_PROPERTY_WORD = {"LogP": re.compile(r"\blogp\b"), "MR": re.compile(r"\bmr\b"), "QED": re.compile(r"\bqed\b")}
_LOWER = re.compile(r"\b(lower|decrease)\b")  # TOMG-Bench's evaluate.py: "lower" or "decrease" = decrease
_HIGHER = re.compile(r"\b(higher|increase)\b")

# the template words of every OpenMolIns/S²-Bench instruction: never a molecule, so RDKit is not asked
_WORDS = frozenset(
    "please add a an to the molecule modify by adding remove removing from substitute substituting replace "
    "replacing in with optimize have lower higher decrease increase its value logp mr qed benzene ring "
    "benzene_ring hydroxyl aldehyde carboxyl amide amine nitro halo nitrile thiol".split())
_SMILES_CHARS = re.compile(r"[A-Za-z0-9@+\-\[\]()=#$%/\\.:*<>~]+")  # <- -> : dative bonds


class S2BenchLayoutError(ConfigError):
    """The raw files are not laid out as published (one OpenMolIns scale, the benchmark folder)."""


# ---------------------------------------------------------------- instruction parsing

def _tokens(text: str) -> list[str]:
    return [t.rstrip(".,;") for t in text.split()]


def find_molecule(text: str, where: str = "Instruction") -> tuple[entities.Molecule, str]:
    """(the molecule, the token as written): the one token of ``text`` that RDKit parses."""
    found: list[tuple[entities.Molecule, str]] = []
    for token in _tokens(text):
        if not token or token.lower() in _WORDS or not _SMILES_CHARS.fullmatch(token):
            continue
        try:
            found.append((entities.molecule(token, where), token))
        except RecordRejected:
            continue
    if not found:
        raise RecordRejected(f"{where}: no token RDKit parses as a molecule in {text[:80]!r}")
    if len({m.smiles for m, _ in found}) > 1:
        raise RecordRejected(f"{where}: {len(found)} molecules ({', '.join(t[:30] for _, t in found)}) in "
                             f"{text[:80]!r}; expected one")
    return found[0]


def _without(text: str, token: str) -> str:
    return " ".join(t for t in text.split() if t.rstrip(".,;") != token)


def edit_groups(text: str) -> list[str]:
    """The MolEdit group names in ``text``, in order, with the one spelling ``benzene ring``."""
    return [m.group(1).replace("_", " ") for m in _EDIT_GROUP.finditer(text.lower())]


def direction(text: str, subtask: str, where: str = "Instruction") -> str:
    """``lower`` or ``higher``: what the optimisation instruction asks of the task's property."""
    low = text.lower()
    if not _PROPERTY_WORD[subtask].search(low):
        raise RecordRejected(f"{where}: does not name {subtask} ({text[:80]!r})")
    lower, higher = bool(_LOWER.search(low)), bool(_HIGHER.search(low))
    if lower == higher:
        raise RecordRejected(f"{where}: {'both' if lower else 'neither'} lower/decrease and higher/increase in "
                             f"{text[:80]!r}")
    return "lower" if lower else "higher"


def _singular(name: str) -> str:
    return "benzene ring" if name in ("benzene rings", "benzene ring") else name


def custom_counts(text: str, subtask: str, where: str = "Instruction") -> dict[str, int]:
    """Column -> count as the instruction states them (instruction order), e.g. ``{"carbon": 8, ...}``."""
    columns = CUSTOM_COLUMNS[subtask]
    by_name = {_singular(c): c for c in columns}
    units = CUSTOM_UNIT[subtask]
    counts: dict[str, int] = {}
    for number, name, unit in _COUNT.findall(text.lower()):
        name = name.removeprefix("and ").strip()
        if unit not in units:
            raise RecordRejected(f"{where}: '{number} {name} {unit}' is not a {subtask} constraint")
        column = by_name.get(_singular(name))
        if column is None:
            raise RecordRejected(f"{where}: unknown {units[0]} type {name!r} (known: {', '.join(columns)})")
        if column in counts:
            raise RecordRejected(f"{where}: {column} is constrained twice")
        counts[column] = int(number)
    if not counts:
        raise RecordRejected(f"{where}: no '<n> <{units[0]} type> {units[1]}' constraint in {text[:80]!r}")
    if any(n == 0 for n in counts.values()):
        raise RecordRejected(f"{where}: a zero count in {text[:80]!r} (the generator only states present ones)")
    return counts


def constraint_phrase(counts: Mapping[str, int], subtask: str) -> str:
    """``8 carbon atoms, 1 nitrogen atom and 2 oxygen atoms``: the constraints as this task writes them."""
    one, many = CUSTOM_UNIT[subtask]
    parts = [f"{n} {_singular(name)} {one if n == 1 else many}" for name, n in counts.items()]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# ---------------------------------------------------------------- the converter

def _subtask(ctx: Context) -> str:
    return ctx.options["subtask"]


def _is_test(ctx: Context) -> bool:
    """Whether the raw split read is a benchmark file (the converter's context names the raw split)."""
    return ctx.split in BENCHMARK_FILES.values()


def _text(row: Mapping[str, Any], name: str) -> str:
    value = field(row, name)
    if not isinstance(value, str) or not value.strip():
        raise RecordRejected(f"{name}: empty")
    return value.strip()


def _whole(row: Mapping[str, Any], column: str) -> int:
    raw = field(row, column)
    text = str(raw).strip() if raw is not None else ""
    try:
        value = float(text)
    except ValueError:
        raise RecordRejected(f"{column}: {text[:20]!r} is not a count") from None
    if not value.is_integer() or value < 0:
        raise RecordRejected(f"{column}: {text[:20]!r} is not a whole count")
    return int(value)


def _reference_molecule(mol: entities.Molecule) -> str:
    return wrap_smiles(mol.smiles, validated=True)


def _check_input_column(row: Mapping[str, Any], found: entities.Molecule) -> None:
    """The benchmark's ``molecule`` column (the input) is the molecule its instruction names."""
    column = entities.molecule(_text(row, "molecule"), "molecule")
    if column.smiles != found.smiles:
        raise RecordRejected(f"Instruction names {found.smiles[:40]!r} but the molecule column is "
                             f"{column.smiles[:40]!r}")


def _edit(row: Mapping[str, Any], ctx: Context, instruction: str) -> Example:
    subtask = _subtask(ctx)
    source, token = find_molecule(instruction)
    groups = edit_groups(_without(instruction, token))
    wanted = 2 if subtask == "SubComponent" else 1
    if len(groups) != wanted:
        raise RecordRejected(f"Instruction: {len(groups)} group names ({', '.join(groups) or 'none'}) in "
                             f"{instruction[:80]!r}; {subtask} names {wanted}")
    if subtask == "SubComponent" and groups[0] == groups[1]:
        raise RecordRejected(f"Instruction: substitutes {groups[0]} with itself")
    if subtask == "SubComponent":
        fields = {"molecule": source, "removed": groups[0], "added": groups[1]}
        side = {"removed_group": groups[0], "added_group": groups[1]}
    else:
        fields = {"molecule": source, "group": groups[0]}
        side = {("added_group" if subtask == "AddComponent" else "removed_group"): groups[0]}
    raw_input = json.dumps({"molecule": source.smiles, **side}, sort_keys=True)
    if not _is_test(ctx):
        target = entities.molecule(_text(row, "molecule"), "molecule")
        return Example(fields, target, raw_input, target.smiles)
    _check_input_column(row, source)
    for column, value in side.items():
        written = _text(row, column).replace("_", " ").lower()
        if written != value:
            raise RecordRejected(f"{column}: {written!r} but the Instruction names {value!r}")
    # no gold molecule: the benchmark checks the edit; the reference is what edit_sr/edit_wsr need
    return Example(fields, None, raw_input, "", reference={"molecule": _reference_molecule(source), **side})


def _opt(row: Mapping[str, Any], ctx: Context, instruction: str) -> Example:
    subtask = _subtask(ctx)
    source, _ = find_molecule(instruction)
    way = direction(instruction, subtask)
    fields = {"molecule": source, "direction": way}
    raw_input = json.dumps({"molecule": source.smiles, "direction": way}, sort_keys=True)
    if not _is_test(ctx):
        target = entities.molecule(_text(row, "molecule"), "molecule")
        return Example(fields, target, raw_input, target.smiles)
    _check_input_column(row, source)
    reference = {"molecule": _reference_molecule(source), "property": PROPERTY[subtask],
                 "direction": "decrease" if way == "lower" else "increase"}
    return Example(fields, None, raw_input, "", reference=reference)


def _custom(row: Mapping[str, Any], ctx: Context, instruction: str) -> Example:
    subtask = _subtask(ctx)
    counts = custom_counts(instruction, subtask)
    phrase = constraint_phrase(counts, subtask)
    if not _is_test(ctx):
        target = entities.molecule(_text(row, "molecule"), "molecule")
        return Example(phrase, target, phrase, target.smiles)
    columns = {c: _whole(row, c) for c in CUSTOM_COLUMNS[subtask]}
    stated = {c: counts.get(c, 0) for c in columns}
    if stated != columns:
        diff = [f"{c} {stated[c]} vs column {columns[c]}" for c in columns if stated[c] != columns[c]]
        raise RecordRejected(f"Instruction and count columns disagree: {'; '.join(diff[:3])}")
    reference = {c: n for c, n in columns.items() if c not in UNCHECKED_GROUPS}
    return Example(phrase, None, phrase, "", reference=reference)


_FAMILIES = {"edit": _edit, "opt": _opt, "custom": _custom}


def convert_s2bench(row: Mapping[str, Any], ctx: Context) -> list[Example]:
    """One training row of the task's sub-task, or one benchmark row -> one example.

    The training file holds all nine sub-tasks; a row of another sub-task is rejected with that reason
    (the corpus engine has no "not this task's record" outcome)."""
    subtask = _subtask(ctx)
    if not _is_test(ctx):
        got = _text(row, "SubTask")
        if got != subtask:
            raise OtherSubtask(f"SubTask {got!r}: another sub-task's row (this task reads {subtask!r})")
    return [_FAMILIES[FAMILY[subtask]](row, ctx, _text(row, "Instruction"))]


def prepare_s2bench(pc: PrepareContext) -> dict:
    """Checks that the ``s2bench/*/{split}.csv`` pattern found the published folders: exactly one
    OpenMolIns scale for training (two scales would double-count rows) and the benchmark folder for the
    test split. Returns the folders read (part of the build fingerprint)."""
    train_folder = pc.options.get("train_folder", DEFAULT_TRAIN_FOLDER)
    bench_folder = pc.options.get("benchmark_folder", DEFAULT_BENCHMARK_FOLDER)
    test_split = (pc.task.get("splits") or {}).get("test")
    read: dict[str, list[str]] = {}
    for raw_split, files in sorted(pc.all_files().items()):
        want = bench_folder if raw_split == test_split else train_folder
        folders = sorted({Path(f).parent.name for f in files})
        if folders != [want]:
            raise S2BenchLayoutError(
                f"task {pc.task_id}: raw split {raw_split!r} matched {', '.join(str(f) for f in files)}; "
                f"expected exactly one file in a folder named {want!r} under {pc.raw_root}/s2bench/ "
                f"(keep one OpenMolIns scale there, or set source.options.train_folder / benchmark_folder)")
        read[raw_split] = [f"{folder}/{Path(f).name}" for f in files for folder in [Path(f).parent.name]]
    return {"files": read}


S2BENCH_OPTIONS = S.Spec(fields={
    "subtask": S.Enum(choices=SUBTASKS),
    "train_folder": S.Str(nonempty=True),  # default OpenMolIns-xlarge
    "benchmark_folder": S.Str(nonempty=True),  # default S2-TOMG-Bench (S2-TOMG-Bench-mini: 500 rows each)
}, required=("subtask",), what="option of converter 's2bench'")

CONVERTERS: dict[str, ConverterSpec] = {
    "s2bench": ConverterSpec(convert_s2bench, "csv", S2BENCH_OPTIONS,
                             "S²-Bench / TOMG-Bench benchmark CSVs and OpenMolIns train.csv (SubTask, Instruction, "
                             "molecule); molecules in the instruction found by RDKit", prepare=prepare_s2bench),
}
