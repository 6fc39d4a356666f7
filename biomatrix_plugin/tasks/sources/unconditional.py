"""Unconditional molecule generation: MOSES and GuacaMol molecule lists -> one "generate a molecule" row each.

Both benchmarks publish a plain list of molecules per split:

- MOSES (molecularsets/moses, shipped in the ``molsets`` wheel as ``moses/dataset/data/{train,test,
  test_scaffolds}.csv.gz``): a CSV with the single header ``SMILES`` (the repository's ``dataset_v1.csv``
  adds a ``SPLIT`` column; a row of it whose ``SPLIT`` is another split is counted as routed).
- GuacaMol (BenevolentAI/guacamol ``guacamol_v1_{train,valid,test}.smiles``): one SMILES a line, no
  header (read with the ``smi`` format: a line with a second cell is a reject).

A record becomes one example with no input (``input.kind: none``) and the molecule, canonicalised once by
RDKit, as the response; its SMILES and SELFIES variants come from that one canonical form.

Train rows teach "an instruction from the pool -> one molecule". Test rows are the *sampling slots*: ``eval
run`` draws one molecule per test row (sampled rows that repeat a prompt are independent draws), so the
test split has as many rows as the benchmark generates molecules (10,000, option ``reference_rows``), and
each row carries one molecule of the benchmark's test set as its gold: the distinct golds are the reference
set of FCD/SNN/Frag/Scaf. ``prepare`` picks the first ``reference_rows`` convertible molecules of the test
file (the file is read in its published order); a later test molecule is not bad data and is counted as
``routed`` (converters.OtherSubtask), not as a reject. So that the build does not pool every reference into
every row (it pools the golds of rows sharing ``raw_input``), ``raw_input`` is the molecule's canonical
SMILES: each reference is its own group.
"""

from __future__ import annotations

from typing import Any, Mapping

from biomatrix_plugin import schema as S
from biomatrix_plugin.corpus.records import RecordRejected, iter_records, parse_record
from biomatrix_plugin.tasks import entities
from biomatrix_plugin.tasks.converters import (
    Context,
    ConverterSpec,
    Example,
    OtherSubtask,
    PrepareContext,
    field,
)

MOSES_COLUMN = "SMILES"  # the header of the package's csv.gz files and of dataset_v1.csv
MOSES_SPLIT_COLUMN = "SPLIT"  # dataset_v1.csv only: train / test / test_scaffolds
SMI_COLUMN = "smiles"  # what the `smi` reader names the first cell (corpus.records)
SMI_SECOND_CELL = "name"  # ... and the rest of the line


def molecule_example(value: Any, where: str) -> Example:
    """The one example of a molecule-list record: no input, the canonical molecule as the answer."""
    mol = entities.molecule(value, where)
    return Example(input=None, output=mol, raw_input=mol.smiles, raw_output=mol.smiles)


def _moses_smiles(row: Mapping[str, Any], ctx: Context) -> tuple[Any, str]:
    column = ctx.options.get("column", MOSES_COLUMN)
    split = row.get(MOSES_SPLIT_COLUMN)
    if split is not None and split.strip() != ctx.split:  # dataset_v1.csv holds every split: not bad data
        raise OtherSubtask(f"{MOSES_SPLIT_COLUMN}: row of split {split!r}, reading raw split {ctx.split!r}")
    return field(row, column), column


def _guacamol_smiles(row: Mapping[str, Any], ctx: Context) -> tuple[Any, str]:
    extra = row.get(SMI_SECOND_CELL)
    if extra is not None:
        raise RecordRejected(f"line has a second cell {extra[:40]!r}; GuacaMol writes one SMILES a line")
    return field(row, SMI_COLUMN), "smiles"


_REFERENCES: list = [None, frozenset()]  # (the prepared list, its set): one per worker, built on first use


def _reference_set(references: list[str]) -> frozenset[str]:
    if _REFERENCES[0] is not references:
        _REFERENCES[:] = [references, frozenset(references)]
    return _REFERENCES[1]


def _slot_example(value: Any, where: str, ctx: Context) -> list[Example]:
    example = molecule_example(value, where)
    references = ctx.prepared.get("references")
    if ctx.split == ctx.prepared.get("test_split") and references is not None \
            and value.strip() not in _reference_set(references):
        # not bad data: a test molecule past the sampling slots, counted as routed (not a reject)
        raise OtherSubtask(f"beyond the first {ctx.prepared['reference_rows']:,} molecules of the test file "
                           "(source.options.reference_rows)")
    return [example]


def convert_moses(row: Mapping[str, Any], ctx: Context) -> list[Example]:
    """A row of a MOSES csv (``SMILES`` [, ``SPLIT``])."""
    return _slot_example(*_moses_smiles(row, ctx), ctx)


def convert_guacamol(row: Mapping[str, Any], ctx: Context) -> list[Example]:
    """A line of a GuacaMol ``.smiles`` file, as the ``smi`` reader splits it."""
    return _slot_example(*_guacamol_smiles(row, ctx), ctx)


def first_references(pc: PrepareContext, smiles_of, input_format: str) -> dict:
    """The first ``reference_rows`` molecules of the test split that convert (their SMILES as written): the
    sampling slots. Read from the full files, so ``--limit`` does not change which molecules they are."""
    n = pc.options.get("reference_rows")
    test_split = pc.task["splits"]["test"]
    if n is None or test_split is None:
        return {}
    ctx = Context(pc.task_id, "none", "molecule", None, test_split, pc.options)
    picked: list[str] = []
    for record in iter_records([str(f) for f in pc.files(test_split)], input_format):
        try:
            value, where = smiles_of(parse_record(record.raw, input_format), ctx)
            molecule_example(value, where)
        except (RecordRejected, OtherSubtask):
            continue  # the build files it with its reason
        picked.append(value.strip())
        if len(picked) >= n:
            break
    return {"test_split": test_split, "reference_rows": n, "references": sorted(set(picked))}


def prepare_moses(pc: PrepareContext) -> dict:
    return first_references(pc, _moses_smiles, "csv")


def prepare_guacamol(pc: PrepareContext) -> dict:
    return first_references(pc, _guacamol_smiles, "smi")


# reference_rows: test rows = molecules sampled by eval run (report §6.1.1: 10,000); unset = every test molecule
MOSES_OPTIONS = S.Spec(fields={
    "column": S.Str(nonempty=True),  # the SMILES column (default SMILES)
    "reference_rows": S.Int(min=1),
}, what="option of converter 'moses_csv'")
GUACAMOL_OPTIONS = S.Spec(fields={"reference_rows": S.Int(min=1)}, what="option of converter 'guacamol_smiles'")

CONVERTERS: dict[str, ConverterSpec] = {
    "moses_csv": ConverterSpec(convert_moses, "csv", MOSES_OPTIONS,
                               "MOSES {train,test,test_scaffolds}.csv.gz (column SMILES; molsets package data)",
                               prepare=prepare_moses),
    "guacamol_smiles": ConverterSpec(convert_guacamol, "smi", GUACAMOL_OPTIONS,
                                     "GuacaMol guacamol_v1_{train,valid,test}.smiles (one SMILES a line)",
                                     prepare=prepare_guacamol),
}
