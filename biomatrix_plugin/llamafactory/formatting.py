"""The ``biomatrix`` dataset formatting: rows that hold raw entities next to text templates.

A template field contains placeholders ``{column|modality}``; each is replaced by the wrapped
serialization of that row's ``column``:

    {"instruction": "What does {seq|protein} bind?", "output": "{ligand|smiles}",
     "seq": "MKTAYIAK", "ligand": "CCO"}

Modalities: every entry of :data:`biomatrix_plugin.modalities.table.MODALITIES` (smiles, selfies, mol3d,
protein, prot3d: list or space/comma-separated codes), plus ``{col|selfies_from_smiles}`` to convert a
SMILES column to SELFIES. Other braces (and ``{col|name}`` with a name that is not a modality) are left
alone, so JSON or code in prompts needs no escaping. Serializing at load time keeps the stored rows
readable and lets one dataset feed SMILES and SELFIES variants.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from biomatrix_plugin.errors import BioMatrixError
from biomatrix_plugin.modalities import table
from biomatrix_plugin.modalities.serialization import SerializationError, wrap, wrap_selfies

# Any {column|name}; whether ``name`` is a modality is read from the table when the placeholder is met, so a
# modality added to the table is a placeholder here without a second list to keep in step.
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\|([A-Za-z0-9_]+)\}")
# placeholders that are not table entries: name -> how the column is wrapped
EXTRA_PLACEHOLDERS = {"selfies_from_smiles": lambda value: wrap_selfies(smiles=value)}


def is_placeholder_modality(name: str) -> bool:
    return name in table.MODALITIES or name in EXTRA_PLACEHOLDERS


class FormattingError(BioMatrixError, ValueError):
    pass


def render(template: str, row: Mapping[str, Any], where: str = "row") -> str:
    def sub(match: re.Match) -> str:
        column, modality = match.group(1), match.group(2)
        if not is_placeholder_modality(modality):
            return match.group(0)
        if column not in row or row[column] in (None, ""):
            raise FormattingError(f"{where}: placeholder {match.group(0)} but column {column!r} is missing or empty")
        try:
            extra = EXTRA_PLACEHOLDERS.get(modality)
            return extra(row[column]) if extra else wrap(modality, row[column])
        except SerializationError as exc:
            raise FormattingError(f"{where}: column {column!r}: {exc}") from exc

    if not isinstance(template, str):
        return template
    return PLACEHOLDER.sub(sub, template)


def render_row(
    row: Mapping[str, Any], fields: list[str], where: str = "row", history: str | None = None
) -> dict[str, Any]:
    """Render ``fields`` (text columns) and, if given, the alpaca ``history`` column's [prompt, response] pairs."""
    out = dict(row)
    for f in fields:
        if f and f in out:
            out[f] = render(out[f], row, where)
    if history and isinstance(out.get(history), list):
        out[history] = [[render(turn, row, where) for turn in pair] for pair in out[history]]
    return out
