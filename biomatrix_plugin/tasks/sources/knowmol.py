"""KnowMol-100K (HF ``yzf1102/KnowMol-100K``): one JSON annotation per molecule (``cid``, ``smiles``,
``IUPACName``, ``MolecularFormula``, ``atom_map``, ``SELFIES``, ``fg_name2atom``, ``construction``,
``property``, ...), read as a JSON array of objects. Training only (no test split in report Table 31).

- captioning (``task: caption``): one example per annotation level the option ``levels`` names (level name
  -> field), the level given to the prompt as its ``{target}``. A text field is used as written; the
  ``fg_name2atom`` mapping is verbalised as the list of its functional-group names. A record that lacks a
  level's field is a reject naming it (no level is dropped silently).
- generation (``task: generate``): the levels' texts joined into one description -> the molecule.

KnowMol's own training files are pickles of LLaVA conversations (``<image>`` = a graph); they are not
read: unpickling runs code, and the molecule is not in their text.
"""

from __future__ import annotations

from typing import Any, Mapping

from biomatrix_plugin import schema as S
from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.tasks import entities
from biomatrix_plugin.tasks.converters import Context, ConverterSpec, Example, field

# ours: the card's annotation levels are atoms, functional groups, structure and properties; the card names
# the fields of the last three (fg_name2atom, construction, property); atoms (atom_map: id -> atom) has no
# text, so it is not a default level
DEFAULT_LEVELS = {"functional groups": "fg_name2atom", "structure": "construction", "properties": "property"}


def level_text(value: Any, where: str) -> str:
    if isinstance(value, Mapping):  # fg_name2atom: functional group -> atom ids
        names = [str(k).strip() for k in value if str(k).strip()]
        if not names:
            raise RecordRejected(f"{where}: no functional group")
        return entities.text("The molecule contains these functional groups: " + ", ".join(names) + ".", where)
    if not isinstance(value, str):
        raise RecordRejected(f"{where}: expected text, got {type(value).__name__}")
    return entities.text(value, where)


def convert_knowmol(row: Mapping[str, Any], ctx: Context) -> list[Example]:
    mol = entities.molecule(field(row, "smiles"), "smiles")
    levels = ctx.options.get("levels") or DEFAULT_LEVELS
    texts = {level: level_text(field(row, name, f"{name} (level {level})"), name) for level, name in levels.items()}
    if ctx.options["task"] == "caption":
        return [Example(mol, text, mol.smiles, text, level) for level, text in texts.items()]
    description = " ".join(texts.values())
    return [Example(description, mol, description, mol.smiles)]


KNOWMOL_OPTIONS = S.Spec(fields={
    "task": S.Enum(choices=("caption", "generate")),
    "levels": S.MapOf(values=S.Str(nonempty=True)),  # level name (the prompt's {target}) -> annotation field
}, required=("task",), what="option of converter 'knowmol'")

CONVERTERS: dict[str, ConverterSpec] = {
    "knowmol": ConverterSpec(convert_knowmol, "json_array", KNOWMOL_OPTIONS,
                             "KnowMol-100K (yzf1102/KnowMol-100K) JSON annotations: smiles + level texts"),
}
