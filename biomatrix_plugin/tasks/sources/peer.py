"""PEER interaction benchmarks (DeepGraphLearning/PEER_Benchmark; files as torchdrug's datasets download them):
one LMDB environment per split (``corpus`` format ``lmdb``), each record a dict.

- protein-ligand affinity (BindingDB_Kd, PDBbind-2019 "pdbind"): ``target`` (amino acids), ``drug`` (SMILES),
  ``affinity`` (a pK value);
- protein-protein (Yeast PPI, Human PPI, PPI affinity): ``primary_1``, ``primary_2``, ``interaction`` (0/1 for
  the PPI tasks, a float pKd for PPI affinity, despite the name).

One converter for all five: ``options.fields`` maps each ``input.fields`` name of the task file to the record
key that holds it, ``options.label`` names the key of the answer. Values come from the reader already plain
(size-1 numpy arrays as their item). Every field is checked by its entity kind; a protein longer than
``max_protein_length`` (when set) is a reject naming its length, never a silent crop (PEER random-crops to 550
residues at training time; that is a model transform, not part of the data).
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

from biomatrix_plugin import schema as S
from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.errors import ConfigError, short_repr
from biomatrix_plugin.tasks import entities
from biomatrix_plugin.tasks.converters import Context, ConverterSpec, Example, field


def _label_text(value: Any, key: str) -> Any:
    """A class label as the label table spells it: 1 / 1.0 / True -> "1" (PEER writes ints, sometimes as
    numpy values that the reader made plain)."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise RecordRejected(f"{key}: {short_repr(value, 40)} is not a class label (expected 0 or 1)")
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    return value


def _check_fields(ctx: Context) -> Mapping[str, str]:
    mapping = ctx.options["fields"]
    declared = dict(ctx.input_fields or {})
    if set(mapping) != set(declared):
        raise ConfigError(f"task {ctx.task_id}: source.options.fields names {sorted(mapping)} but input.fields "
                          f"declares {sorted(declared)}; name every input field once")
    return declared


def convert_peer(row: Mapping[str, Any], ctx: Context) -> list[Example]:
    """One PEER LMDB record -> one example with every input field and the answer checked."""
    kinds = _check_fields(ctx)
    values: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    limit = ctx.options.get("max_protein_length")
    for name, key in ctx.options["fields"].items():
        value = field(row, key, key)
        if not isinstance(value, str):
            raise RecordRejected(f"{key}: a {type(value).__name__} value ({short_repr(value, 40)}), expected a string")
        entity = entities.read(kinds[name], value, key)
        if isinstance(entity, entities.Protein) and limit is not None and len(entity.sequence) > limit:
            raise RecordRejected(f"{key}: {len(entity.sequence)} residues, more than max_protein_length={limit}")
        values[name] = entity
        raw[name] = entity.payload("smiles") if hasattr(entity, "payload") else entity
    key = ctx.options["label"]
    answer = field(row, key, key)
    if ctx.output_kind == "label":
        answer = _label_text(answer, key)
    elif isinstance(answer, str) or answer is None:
        raise RecordRejected(f"{key}: {short_repr(answer, 40)} is not a number")
    output = entities.read(ctx.output_kind, answer, key, ctx.labels)
    # the grouping key of repeated test inputs: the canonical fields (SMILES canonicalised once by entities)
    raw_input = json.dumps(raw, sort_keys=True, ensure_ascii=False)
    return [Example(values, output, raw_input, answer)]


PEER_OPTIONS = S.Spec(fields={
    "fields": S.MapOf(values=S.Str(nonempty=True)),  # input.fields name -> record key (target, drug, primary_1)
    "label": S.Str(nonempty=True),  # record key of the answer (affinity, interaction)
    "max_protein_length": S.Int(min=1, nullable=True),  # reject longer proteins (None: keep every length)
}, required=("fields", "label"), what="option of converter 'peer'")

CONVERTERS: dict[str, ConverterSpec] = {
    "peer": ConverterSpec(convert_peer, "lmdb", PEER_OPTIONS,
                          "PEER LMDB split (torchdrug load_lmdbs layout): protein-ligand or protein-protein pairs"),
}
