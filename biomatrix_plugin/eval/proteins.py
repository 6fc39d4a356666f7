"""Protein metrics: amino-acid recovery, backbone RMSD / TM-score, and self-consistency metrics.

Structures are C-alpha traces: an item is a list of ``[x, y, z]`` rows, or the path of a PDB / mmCIF /
BinaryCIF file, gzipped or not (first model, first chain's CA atoms, read with the protein3d area's reader).
RMSD is the Kabsch-superposed CA RMSD and needs equal lengths (a length mismatch is counted as invalid, as
the report's length-matched protocol implies); TM-score is TM-align's (``tmtools``), normalised by the
reference length.

Self-consistency metrics (scTM, scRMSD, pLDDT) need a structure predictor (ESMFold) and ProtGPT2
perplexity needs a language model: both are weights + GPU that this package cannot ship. They run through
an injected :class:`StructurePredictor` / :class:`SequenceScorer` (``set_structure_predictor``,
``set_sequence_scorer``); without one they report ``not_computed`` with the reason.

The text-conditioned design metrics of the ProDVa protocol (Rep, % pLDDT > 70, PAE, ProTrek, retrieval
accuracy, ...) live in :mod:`.protein_design`, which builds on this module's helpers (never the other way;
the registry table names both).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from biomatrix_plugin.eval.spec import EvalInputError, MetricResult

# ------------------------------------------------------------------ sequences

_SEQUENCE = re.compile(r"[A-Z]+")


def protein_sequence(item: Any) -> str | None:
    """Plain sequence from a prediction: uppercase letters (whitespace ignored) or wrapped
    ``<|prot_aa_start|><A M>...``; None for anything else.

    Lowercase text is not read as a sequence: a model answer such as "I cannot design this protein" is
    prose, not the residues I, C, A, N, ... (and lowercase 'mkv' is no design either). A mapping's
    ``"sequence"`` is read (an inverse-folding reference is ``{"sequence", "ca"}``)."""
    if isinstance(item, dict):
        item = item.get("sequence")
    if not isinstance(item, str):
        return None
    text = item.strip()
    if "<|" in text:
        from biomatrix_plugin.modalities.serialization import unwrap

        return unwrap(text).first("protein")
    seq = "".join(text.split())
    return seq if _SEQUENCE.fullmatch(seq) else None


def aar(predictions: list, references: list, agg: str = "mean") -> MetricResult:
    values, bad = [], 0
    for i, (p, r) in enumerate(zip(predictions, references), start=1):
        ref = protein_sequence(r)
        if not ref:
            raise EvalInputError(f"aar: reference item {i} is not a protein sequence")
        pred = protein_sequence(p)
        if not pred or len(pred) != len(ref):
            bad += 1
            continue
        values.append(sum(a == b for a, b in zip(pred, ref)) / len(ref))
    if not values:
        return MetricResult.not_computed("aar", "no length-matched prediction", len(predictions), bad)
    value = float(np.median(values) if agg == "median" else np.mean(values))
    return MetricResult("aar", value, len(predictions), bad, details={"n_scored": len(values)})


# ------------------------------------------------------------------ structures

def ca_coordinates(item: Any) -> np.ndarray | None:
    """(N, 3) CA coordinates from a coordinate list or a structure file path; None when unusable."""
    return ca_coordinates_or_reason(item)[0]


def ca_coordinates_or_reason(item: Any) -> tuple[np.ndarray | None, str]:
    """(CA coordinates, "") or (None, why the item is no CA trace)."""
    if isinstance(item, dict):
        item = item.get("ca", item.get("coords"))
    if isinstance(item, str):
        return _ca_from_file(item)
    try:
        arr = np.asarray(item, dtype=np.float64)
    except (TypeError, ValueError):
        return None, "not a list of [x, y, z] rows"
    if arr.ndim != 2 or arr.shape[1] != 3 or len(arr) < 3 or not np.all(np.isfinite(arr)):
        return None, f"not a CA trace of at least 3 finite [x, y, z] rows (shape {arr.shape})"
    return arr, ""


def _ca_from_file(path: str) -> tuple[np.ndarray | None, str]:
    import biotite.structure as struc

    from biomatrix_plugin.protein3d.structure_io import StructureFileError, read_first_model

    # the protein3d reader handles .gz, mmCIF/BinaryCIF, content sniffing and altlocs, and says what is wrong
    try:
        atoms = read_first_model(Path(path.strip()))
    except StructureFileError as exc:
        return None, str(exc)
    atoms = atoms[struc.filter_amino_acids(atoms) & (atoms.atom_name == "CA")]
    if len(atoms) == 0:
        return None, f"{path.strip()}: no amino-acid CA atom in the first model"
    atoms = atoms[atoms.chain_id == atoms.chain_id[0]]
    return np.asarray(atoms.coord, dtype=np.float64), ""


def kabsch_rmsd(a: np.ndarray, b: np.ndarray) -> float:
    """CA RMSD after optimal superposition; the protein3d area owns the implementation."""
    from biomatrix_plugin.protein3d.comparison import kabsch_rmsd as shared

    return float(shared(a, b))


def tm_score(model: np.ndarray, reference: np.ndarray, align: str = "tmalign") -> float:
    """TM-score of ``model`` against ``reference``, normalised by the reference length.

    ``tmalign``: TM-align's sequence-independent alignment (tmtools), works across lengths.
    ``residue``: residue i to residue i (the TM-score program; protein3d's implementation), equal lengths.
    """
    if align == "residue":
        from biomatrix_plugin.protein3d.comparison import tm_score as residue_tm

        return float(residue_tm(model, reference))
    from tmtools import tm_align

    result = tm_align(np.ascontiguousarray(model), np.ascontiguousarray(reference),
                      "A" * len(model), "A" * len(reference))
    return float(result.tm_norm_chain2)


def _structure_pairs(name: str, predictions: list, references: list):
    pairs, bad = [], 0
    for i, (p, r) in enumerate(zip(predictions, references), start=1):
        ref, why = ca_coordinates_or_reason(r)
        if ref is None:
            raise EvalInputError(f"{name}: reference item {i} is not a CA trace (list of [x,y,z]) or a readable "
                                 f"structure file: {why}")
        pred = ca_coordinates(p)
        if pred is None:
            bad += 1
            continue
        pairs.append((pred, ref))
    return pairs, bad




def tm_score_metric(predictions: list, references: list, align: str = "tmalign") -> MetricResult:
    if align == "tmalign":
        try:
            import tmtools  # noqa: F401
        except ImportError:
            return MetricResult.not_computed("tm_score", "the `tmtools` package is not installed (pip install tmtools)",
                                             len(predictions))
    pairs, bad = _structure_pairs("tm_score", predictions, references)
    if align == "residue":
        matched = [(p, r) for p, r in pairs if len(p) == len(r)]
        bad += len(pairs) - len(matched)
        pairs = matched
    if not pairs:
        return MetricResult.not_computed("tm_score", "no usable predicted structure", len(predictions), bad)
    value = float(np.mean([tm_score(p, r, align) for p, r in pairs]))
    return MetricResult("tm_score", value, len(predictions), bad, details={"align": align})


def rmsd(predictions: list, references: list) -> MetricResult:
    pairs, bad = _structure_pairs("rmsd", predictions, references)
    matched = [(p, r) for p, r in pairs if len(p) == len(r)]
    bad += len(pairs) - len(matched)
    if not matched:
        return MetricResult.not_computed("rmsd", "no length-matched predicted structure", len(predictions), bad)
    return MetricResult("rmsd", float(np.mean([kabsch_rmsd(p, r) for p, r in matched])), len(predictions), bad)


# ------------------------------------------------------------------ self-consistency (injected models)

class StructurePredictor(Protocol):
    """A folding model (e.g. ESMFold): sequence -> (CA coordinates (N, 3), mean pLDDT 0-100).

    ``fold`` may also return a third element, the predicted aligned error: the (N, N) PAE matrix in
    Angstrom or its mean (a number). Predictors that return only two elements work for every metric but
    ``pae`` / ``pae_lt10_pct``, which then report ``not_computed``.
    """

    def fold(self, sequence: str) -> tuple[np.ndarray, float] | tuple[np.ndarray, float, Any]: ...


class SequenceScorer(Protocol):
    """A protein language model (e.g. ProtGPT2): sequence -> perplexity."""

    def perplexity(self, sequence: str) -> float: ...


_PREDICTOR: StructurePredictor | None = None
_SCORER: SequenceScorer | None = None
NO_PREDICTOR = ("needs a structure predictor (ESMFold weights + GPU), not shipped: inject one with "
                "biomatrix_plugin.eval.proteins.set_structure_predictor()")
NO_SCORER = ("needs a protein language model (ProtGPT2 weights), not shipped: inject one with "
             "biomatrix_plugin.eval.proteins.set_sequence_scorer()")


def set_structure_predictor(predictor: StructurePredictor | None) -> None:
    global _PREDICTOR
    _PREDICTOR = predictor


def set_sequence_scorer(scorer: SequenceScorer | None) -> None:
    global _SCORER
    _SCORER = scorer


def mean_pae(pae: Any) -> float:
    """One number per design: the mean of the PAE matrix (as PDFBench reduces ESMFold's), or the number given."""
    arr = np.asarray(pae, dtype=np.float64)
    if arr.ndim == 0 or (arr.ndim == 2 and arr.shape[0] == arr.shape[1] and arr.size):
        return float(arr.mean())
    raise EvalInputError(f"structure predictor returned a PAE of shape {arr.shape}; expected a number or an (N, N) "
                         "matrix")


def _fold(sequence: str) -> tuple[np.ndarray, float, float | None]:
    out = _PREDICTOR.fold(sequence)
    if not isinstance(out, (tuple, list)) or len(out) not in (2, 3):
        raise EvalInputError("structure predictor: fold() must return (coords, plddt) or (coords, plddt, pae), "
                             f"got {type(out).__name__}")
    pae = mean_pae(out[2]) if len(out) == 3 and out[2] is not None else None
    return np.asarray(out[0], dtype=np.float64), float(out[1]), pae


def check_plddt_scale(name: str, values: list[float]) -> None:
    """pLDDT is on ESMFold's / AlphaFold's 0-100 scale; a predictor returning 0-1 values would make every
    threshold (pLDDT > 70) fail silently, so all values <= 1 are refused."""
    if values and all(v <= 1.0 for v in values):
        raise EvalInputError(
            f"{name}: every pLDDT the structure predictor returned is <= 1 (e.g. {values[0]:g}); pLDDT must be on "
            "the 0-100 scale (ESMFold, AlphaFold): multiply the predictor's 0-1 values by 100 in fold()")


def parsed_sequences(predictions: list) -> tuple[list[int], list[str]]:
    """Indices and sequences of the predictions that parse as proteins; the rest count as invalid."""
    keep, seqs = [], []
    for i, p in enumerate(predictions):
        seq = protein_sequence(p)
        if seq:
            keep.append(i)
            seqs.append(seq)
    return keep, seqs


def _fold_all(name: str, predictions: list) -> tuple[list[tuple[int, str, np.ndarray, float, float | None]], int]:
    """(index, sequence, CA coords, mean pLDDT, mean PAE or None) per parsable prediction, and the unparsable count."""
    keep, seqs = parsed_sequences(predictions)
    return [(i, seq, *_fold(seq)) for i, seq in zip(keep, seqs)], len(predictions) - len(seqs)


def _self_consistency(name: str, predictions: list, references: list, score, same_length: bool,
                      empty_reason: str) -> MetricResult:
    """Fold each generated sequence with the injected model and score it against its backbone."""
    if _PREDICTOR is None:
        return MetricResult.not_computed(name, NO_PREDICTOR, len(predictions))
    folded, bad = _fold_all(name, predictions)
    scores = []
    for i, _, coords, _, _ in folded:
        ref, why = ca_coordinates_or_reason(references[i])
        if ref is None:
            raise EvalInputError(f"{name}: reference item {i + 1} is not a CA trace: {why}")
        if same_length and len(ref) != len(coords):
            bad += 1
            continue
        scores.append(score(coords, ref))
    if not scores:
        return MetricResult.not_computed(name, empty_reason, len(predictions), bad)
    return MetricResult(name, float(np.mean(scores)), len(predictions), bad)


def sctm(predictions: list, references: list) -> MetricResult:
    return _self_consistency("sctm", predictions, references, tm_score, False, "no parsable generated sequence")


def scrmsd(predictions: list, references: list) -> MetricResult:
    return _self_consistency("scrmsd", predictions, references, kabsch_rmsd, True, "no length-matched folded sequence")


def plddt(predictions: list) -> MetricResult:
    if _PREDICTOR is None:
        return MetricResult.not_computed("plddt", NO_PREDICTOR, len(predictions))
    folded, bad = _fold_all("plddt", predictions)
    if not folded:
        return MetricResult.not_computed("plddt", "no parsable generated sequence", len(predictions), bad)
    check_plddt_scale("plddt", [f[3] for f in folded])
    return MetricResult("plddt", float(np.mean([f[3] for f in folded])), len(predictions), bad)


def ppl(predictions: list) -> MetricResult:
    if _SCORER is None:
        return MetricResult.not_computed("ppl", NO_SCORER, len(predictions))
    _, seqs = parsed_sequences(predictions)
    values, bad = [float(_SCORER.perplexity(seq)) for seq in seqs], len(predictions) - len(seqs)
    if not values:
        return MetricResult.not_computed("ppl", "no parsable generated sequence", len(predictions), bad)
    return MetricResult("ppl", float(np.mean(values)), len(predictions), bad)
