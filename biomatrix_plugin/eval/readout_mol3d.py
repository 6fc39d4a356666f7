"""The ``mol3d`` readout: a generation's ``<|mol_3d_start|>`` joint tokens -> the 3D molecule the metrics score.

The first well-formed ``<|mol_3d_start|>...<|mol_3d_end|>`` segment (or, with no wrapper at all, the answer
itself when it is a bare joint-token string) is decoded by MolStrucTok: the SELFIES gives the graph, the codes
the geometry. The value handed to the metrics is that molecule's MOL block (V2000, explicit hydrogens,
Angstrom), which :mod:`biomatrix_plugin.eval.molecules3d` reads for stability, validity and the geometry MMDs
(bonds as decoded). A segment that is cut, malformed or does not decode is unreadable with the reason, so
``eval run`` counts it as an invalid molecule.

The checkpoint is found as everywhere else (``$BIOMATRIX_MOLSTRUCTOK_CKPT``, the cache, the reference
folder; ``biomatrix mol3d fetch-checkpoint``). When it is missing the first read raises the one
:class:`~biomatrix_plugin.mol3d.errors.CheckpointError` (a ConfigError) that ends the run, instead of every
item becoming unreadable.

QM9 property oracles: :func:`register_qm9_oracle` registers a user's predictor (an EDM-style classifier
taking symbols and coordinates) under the name the QM9 task files give ``property_mae``
(``qm9_mu`` ... ``qm9_gap``), checking it answers in the unit the prompts use (see
:mod:`biomatrix_plugin.tasks.sources.qm9`): D, Bohr^3, cal/(mol K), meV.
"""

from __future__ import annotations

from typing import Callable

from biomatrix_plugin.eval.readout import ReadOut, ReadoutSpec

# property -> the unit its oracle must answer in (the QM9 task files' prompts and references)
QM9_ORACLE_UNITS = {"mu": "D", "alpha": "Bohr^3", "cv": "cal/(mol K)", "homo": "meV", "lumo": "meV", "gap": "meV"}
_UNIT_SCALE = {("eV", "meV"): 1000.0, ("Hartree", "meV"): 27211.386246, ("meV", "meV"): 1.0}


def joint_tokens(text: str) -> tuple[str | None, str | None]:
    """(bare joint-token string, None) or (None, why there is none)."""
    from biomatrix_plugin.modalities.serialization import unwrap

    stripped = text.strip()
    if not stripped:
        return None, "empty"
    if "<|" not in stripped:
        return (stripped, None) if stripped.startswith("[") else (None, "no mol3d segment")
    found = unwrap(stripped, check_vocabulary=False)
    for seg in found.segments:
        if seg.modality == "mol3d":
            return (str(seg.value), None) if seg.ok else (None, f"malformed mol3d segment ({seg.error})")
    return None, "no mol3d segment"


def decode_molblock(struct_sfi: str) -> tuple[str | None, str | None]:
    """(MOL block, None) of the decoded molecule, or (None, MolStrucTok's reason)."""
    from rdkit import Chem

    from biomatrix_plugin.io import quiet_rdkit
    from biomatrix_plugin.mol3d.tokenizer import get_tokenizer  # cached; a missing checkpoint: one CheckpointError

    decoded = get_tokenizer(None).decode_many([struct_sfi], on_error="record")[0]
    if isinstance(decoded, str):
        return None, f"MolStrucTok cannot decode it ({decoded})"
    with quiet_rdkit():
        return Chem.MolToMolBlock(decoded, kekulize=False), None


def read_mol3d(text: str, spec: ReadoutSpec) -> ReadOut:
    struct_sfi, why = joint_tokens(text)
    if struct_sfi is None:
        return ReadOut("", why)
    molblock, why = decode_molblock(struct_sfi)
    return ReadOut(molblock) if molblock is not None else ReadOut("", why)


def register_qm9_oracle(prop: str, predict: Callable[[list[str], list[list[float]]], float],
                        unit: str | None = None) -> None:
    """Register ``predict(symbols, coords) -> value`` as the ``property_mae`` oracle ``qm9_<prop>``.

    ``unit`` is what ``predict`` answers in; HOMO / LUMO / gap predictors in eV or Hartree (EDM's classifiers
    answer in eV, the raw csv in Hartree) are scaled to the meV of the task files; any other unit than the
    task's is an error rather than a silently wrong MAE."""
    from biomatrix_plugin.errors import ConfigError
    from biomatrix_plugin.eval.properties import register_property

    if prop not in QM9_ORACLE_UNITS:
        raise ConfigError(f"QM9 property {prop!r}: expected one of {', '.join(QM9_ORACLE_UNITS)}")
    want = QM9_ORACLE_UNITS[prop]
    unit = unit or want
    scale = 1.0 if unit == want else _UNIT_SCALE.get((unit, want))
    if scale is None:
        raise ConfigError(f"QM9 {prop} oracle answers in {unit!r}; the task files use {want}")

    def oracle(mol) -> float:
        if mol.GetNumConformers() == 0:
            raise ValueError("the QM9 oracle needs a 3D molecule (read_mol3d's MOL block)")
        coords = mol.GetConformer().GetPositions().tolist()
        return scale * float(predict([a.GetSymbol() for a in mol.GetAtoms()], coords))

    register_property(f"qm9_{prop}", oracle)
