"""ChEBI-20 (MolT5, GitHub ``blender-nlp/MolT5`` ``ChEBI-20_data/{train,validation,test}.txt``): TSV rows
``CID, SMILES, description`` for captioning (molecule -> description) and text-based generation (description
-> molecule).

The SMILES are PubChem's (kekulé, isomeric) and about 15% of them hold a doubled backslash ``\\\\`` where a
single ``\\`` bond direction was meant (an escaping artifact of the published files): it is undone before
RDKit canonicalises the molecule (RDKit reads both to the same InChI). The fields never start with a quote
(descriptions start with "The molecule is"), so the corpus TSV reader's quoting changes nothing here; MolT5
reads the files with QUOTE_NONE.
"""

from __future__ import annotations

from typing import Any, Mapping

from biomatrix_plugin import schema as S
from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.tasks import entities
from biomatrix_plugin.tasks.converters import Context, ConverterSpec, Example, field

DIRECTIONS = ("caption", "generate")


def pubchem_smiles(value: Any) -> str:
    """The published SMILES with the doubled backslash artifact undone."""
    if not isinstance(value, str) or not value.strip():
        raise RecordRejected("SMILES: empty")
    return value.strip().replace("\\\\", "\\")


def convert_chebi20(row: Mapping[str, Any], ctx: Context) -> list[Example]:
    if row.get(None):
        raise RecordRejected(f"{len(row[None])} cells beyond the header's CID, SMILES, description (a tab inside "
                             "a description?)")
    cid = field(row, "CID")
    if not isinstance(cid, str) or not cid.strip().isdigit():
        raise RecordRejected(f"CID: {str(cid)[:20]!r} is not a PubChem CID")
    mol = entities.molecule(pubchem_smiles(field(row, "SMILES")), "SMILES")
    description = entities.text(field(row, "description"), "description")
    if ctx.options["direction"] == "caption":
        return [Example(mol, description, mol.smiles, description)]
    return [Example(description, mol, description, mol.smiles)]


CHEBI20_OPTIONS = S.Spec(fields={"direction": S.Enum(choices=DIRECTIONS)}, required=("direction",),
                         what="option of converter 'chebi20'")

CONVERTERS: dict[str, ConverterSpec] = {
    "chebi20": ConverterSpec(convert_chebi20, "tsv", CHEBI20_OPTIONS,
                             "ChEBI-20 (MolT5) ChEBI-20_data/<split>.txt: CID, SMILES, description"),
}
