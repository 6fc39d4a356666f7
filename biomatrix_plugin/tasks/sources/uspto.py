"""USPTO-50K retrosynthesis (Schneider et al. 2016, the Dai et al./GLN ``schneider50k`` split): one
atom-mapped reaction per row of ``raw_{train,val,test}.csv`` (header ``id,class,reactants>reagents>production``).

The atom maps are stripped before anything else: the product's map numbers and atom order point at the
reaction centre (RetroXpert's readme documents the leak), so a model trained or evaluated on mapped SMILES
is told the answer. Stripping removes only the ``:n`` of bracket atoms; RDKit's canonicalisation (once, in
:func:`biomatrix_plugin.tasks.entities.molecule`) then writes the unmapped molecule in its canonical atom
order, so nothing of the raw order survives. Reactant atoms without a map number are real atoms (leaving
groups, e.g. the ``Cl`` of an acyl chloride) and are kept.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from biomatrix_plugin import schema as S
from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.tasks import entities
from biomatrix_plugin.tasks.converters import Context, ConverterSpec, Example, field

REACTION_COLUMN = "reactants>reagents>production"
REACTION_CLASSES = range(1, 11)  # Schneider et al.'s ten reaction types
# ``[CH2:12]`` -> ``[CH2]``: the map number is the last item inside a bracket atom. An aromatic bond ``:``
# outside brackets is never followed by digits and ``]``, so the pattern cannot touch one.
_ATOM_MAP = re.compile(r"(\[[^\]\[]*?):\d+\]")
_MAP_LEFT = re.compile(r"\[[^\]]*:")


def strip_atom_maps(smiles: str) -> str:
    """The reaction side without atom-map numbers (a string edit; RDKit canonicalises afterwards)."""
    return _ATOM_MAP.sub(r"\1]", smiles)


def _reaction_class(value: Any) -> int:
    text = str(value).strip() if value is not None else ""
    if not text.isdigit() or int(text) not in REACTION_CLASSES:
        raise RecordRejected(f"class: {text[:20]!r} is not a reaction type 1-10")
    return int(text)


def _side(value: str, where: str) -> entities.Molecule:
    unmapped = strip_atom_maps(value.strip())
    if _MAP_LEFT.search(unmapped):  # RDKit would keep a map it parses: never let one through
        raise RecordRejected(f"{where}: malformed atom map in {unmapped[:60]!r}")
    return entities.molecule(unmapped, where)


def convert_uspto50k(row: Mapping[str, Any], ctx: Context) -> list[Example]:
    """One reaction -> product (input) and reactants (output), both unmapped and RDKit-canonical.

    ``raw_input`` is the canonical product, so the few products that occur twice in the test split pool
    their reactant sets as golds (as the SMolInstruct tasks do)."""
    _reaction_class(field(row, "class"))
    reaction = field(row, REACTION_COLUMN)
    if not isinstance(reaction, str) or not reaction.strip():
        raise RecordRejected(f"{REACTION_COLUMN}: empty reaction")
    parts = reaction.strip().split(">")
    if len(parts) != 3:
        raise RecordRejected(f"{REACTION_COLUMN}: {len(parts) - 1} '>' in {reaction[:60]!r}, expected "
                             "reactants>reagents>product")
    reactants, reagents, product = parts
    if reagents.strip():
        # the schneider50k files write every reagent among the reactants ('>>'); a reagent field means
        # another file (or another curation) whose reactant sets are not the benchmark's
        raise RecordRejected(f"reagents: {reagents[:60]!r} is not empty (schneider50k writes '>>')")
    if not reactants.strip():
        raise RecordRejected("reactants: empty reaction side")
    if not product.strip():
        raise RecordRejected("product: empty reaction side")
    source = _side(product, "product")
    target = _side(reactants, "reactants")
    return [Example(source, target, source.smiles, target.smiles)]


USPTO50K_OPTIONS = S.Spec(fields={}, what="option of converter 'uspto50k'")

CONVERTERS: dict[str, ConverterSpec] = {
    "uspto50k": ConverterSpec(convert_uspto50k, "csv", USPTO50K_OPTIONS,
                              "USPTO-50K schneider50k raw_<split>.csv (id, class, reactants>reagents>production; "
                              "atom maps stripped)"),
}
