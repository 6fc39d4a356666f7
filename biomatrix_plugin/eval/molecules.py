"""Molecule metrics: MOSES/GuacaMol distribution metrics and SMolInstruct's per-item matches.

Definitions follow the benchmarks (implemented here because ``molsets``/``guacamol`` no longer install
cleanly with current numpy/pandas):

- MOSES: validity = parsable / all; uniqueness = unique canonical SMILES / valid; novelty = unique valid
  not in the (canonicalised) training set / unique valid; IntDiv_p = 1 - mean_i (mean_j T_ij^p)^(1/p) over
  valid molecules with self pairs included, Morgan r=2 1024-bit; SNN = mean over generated molecules of the
  max Tanimoto to the reference set; Frag / Scaf = cosine similarity of BRICS-fragment / Bemis-Murcko
  scaffold (>= 2 rings) count vectors. FCD uses the ``fcd`` package (ChemNet weights shipped in it).
- SMolInstruct: exact match on canonical SMILES and, as its scorer does, on the set of per-component
  InChIs; FTS averages Morgan (r=2, counts, unhashed) / MACCS / RDK Tanimoto over *valid* predictions and
  reports invalid ones separately; formula match compares element counts.

Predictions may be plain SMILES, SELFIES, or wrapped model output (``<|mol_smi_start|>...``); with
``notation=auto`` a string made only of [bracketed] symbols (fragments joined by ``.``) is read as SELFIES
first and, when that does not decode to a molecule, as SMILES: ``[Na+]`` or ``[NH4+]`` are SMILES (SELFIES
writes charges with a digit, ``[Na+1]``), while ``[C][C][O-1].[Na+1]`` is SELFIES.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Any, Iterable, Sequence

import numpy as np

from biomatrix_plugin.eval.spec import EvalInputError, MetricResult
from biomatrix_plugin.io import quiet_rdkit
from biomatrix_plugin.modalities.serialization import (
    DEFAULT_MAX_SMILES_ATOMS,
    DEFAULT_MAX_SMILES_CHARS,
    SerializationError,
    check_smiles_size,
)

_SIZE_CHECK_FROM = min(DEFAULT_MAX_SMILES_CHARS, DEFAULT_MAX_SMILES_ATOMS)
# SELFIES symbols are [bracketed]; "." separates fragments as in SMILES
_SELFIES_ONLY = re.compile(r"^\[[^\[\]\s]+\](\.?\[[^\[\]\s]+\])*$")


def molecule_text(item: Any) -> tuple[str | None, str | None]:
    """(plain molecule string, notation hint) from a prediction; unwraps BioMatrix modality tokens."""
    if item is None:
        return None, None
    if not isinstance(item, str):
        return None, None
    if "M  END" in item:  # a MOL block (a decoded 3D answer, eval.readout_mol3d): read with its conformer;
        return item, "molblock"  # not stripped: its first line is the (often empty) title line
    text = item.strip()
    if "<|" in text:
        from biomatrix_plugin.modalities.serialization import unwrap

        found = unwrap(text)
        for modality in ("smiles", "selfies", "mol3d"):
            value = found.first(modality)
            if value is not None:
                if modality == "mol3d":
                    from biomatrix_plugin.modalities.serialization import parse_joint_tokens

                    return "".join(sym for sym, _ in parse_joint_tokens(value)), "selfies"
                return value, modality
        return None, None
    return (text or None), None


class TooLarge(str):
    """The reason a molecule string was not given to RDKit: over the SMILES size limit (an RDKit crash)."""


def to_mol(item: Any, notation: str = "auto"):
    """RDKit Mol or None (empty, unparsable, SELFIES that does not decode, over the size limit)."""
    return mol_or_reason(item, notation)[0]


def mol_or_reason(item: Any, notation: str = "auto") -> tuple[Any, str | None]:
    """(RDKit Mol, None), or (None, why not): ``empty``, ``not parsable``, or a :class:`TooLarge` reason."""
    with quiet_rdkit():
        return _mol_or_reason(item, notation)


def _mol_or_reason(item: Any, notation: str) -> tuple[Any, str | None]:
    # callers hold quiet_rdkit(): an invalid model answer is counted, not logged (one block per set, not per item)
    text, hint = molecule_text(item)
    if not text:
        return None, "empty"
    kind = hint or notation
    if kind == "molblock":
        from rdkit import Chem

        mol = Chem.MolFromMolBlock(text, removeHs=False)
        return (mol, None) if mol is not None and mol.GetNumAtoms() else (None, "not parsable")
    if kind == "auto" and _SELFIES_ONLY.match(text):
        # bracket-only strings are valid in both notations ([Na+] is SMILES, [C][O] SELFIES): SELFIES
        # first, as a model's SELFIES output is the common case, then SMILES when it does not decode
        mol, why = _selfies_mol(text)
        return (mol, why) if mol is not None or isinstance(why, TooLarge) else _smiles_mol(text)
    return _selfies_mol(text) if kind == "selfies" else _smiles_mol(text)


def _selfies_mol(text: str) -> tuple[Any, str | None]:
    import selfies as sf

    try:
        smiles = sf.decoder(text)
    except sf.DecoderError:  # malformed SELFIES: the model's answer is invalid, not our bug
        return None, "not decodable SELFIES"
    return _smiles_mol(smiles) if smiles else (None, "empty")


def _smiles_mol(text: str) -> tuple[Any, str | None]:
    from rdkit import Chem

    if any(c.isspace() for c in text):
        return None, "not parsable"
    # a 20,000-character SMILES crashes RDKit (SIGSEGV in canonicalisation): check the size first. A string no
    # longer than both limits cannot exceed either (an atom takes at least one character): skip the atom count
    if len(text) > _SIZE_CHECK_FROM:
        try:
            check_smiles_size(text)
        except SerializationError as exc:
            return None, TooLarge(str(exc))
    mol = Chem.MolFromSmiles(text)
    return (mol, None) if mol is not None else (None, "not parsable")


def canonical(mol) -> str:
    from rdkit import Chem

    return Chem.MolToSmiles(mol)


def _reference_mols(references: Sequence[Any], notation: str) -> list[list]:
    """Each reference item -> list of Mols (a JSON list gives alternatives). Invalid reference = error."""
    out = []
    for i, ref in enumerate(references, start=1):
        alternatives = ref if isinstance(ref, list) else [ref]
        mols = []
        for alt in alternatives:
            mol, why = mol_or_reason(alt, notation)
            if mol is None:
                raise EvalInputError(f"reference item {i}: {str(alt)[:80]!r} is not a valid molecule ({why})")
            mols.append(mol)
        if not mols:
            raise EvalInputError(f"reference item {i}: empty list of reference molecules")
        out.append(mols)
    return out


def _parse_all(items: Iterable[Any], notation: str) -> list:
    return _parse_counting(items, notation)[0]


def _parse_counting(items: Iterable[Any], notation: str) -> tuple[list, dict[str, int]]:
    """Mols (None = invalid) and ``{"too_large": n}`` when n items were refused before RDKit for their size."""
    mols, too_large = [], 0
    with quiet_rdkit():
        for x in items:
            mol, why = _mol_or_reason(x, notation)
            mols.append(mol)
            too_large += isinstance(why, TooLarge)
    return mols, ({"too_large": too_large} if too_large else {})


# ------------------------------------------------------------------ distribution metrics (MOSES / GuacaMol)

def validity(predictions: list, notation: str = "auto") -> MetricResult:
    mols, reasons = _parse_counting(predictions, notation)
    n = len(mols)
    n_bad = sum(m is None for m in mols)
    if n == 0:
        return MetricResult.not_computed("validity", "no predictions")
    return MetricResult("validity", (n - n_bad) / n, n, n_bad, details=reasons)


def uniqueness(predictions: list, notation: str = "auto") -> MetricResult:
    mols, reasons = _parse_counting(predictions, notation)
    valid = [canonical(m) for m in mols if m is not None]
    n_bad = len(mols) - len(valid)
    if not valid:
        return MetricResult.not_computed("uniqueness", "no valid molecules", len(mols), n_bad, **reasons)
    return MetricResult("uniqueness", len(set(valid)) / len(valid), len(mols), n_bad,
                        details={"n_valid": len(valid), "n_unique": len(set(valid)), **reasons})


def _canonical_set(items: Iterable[Any], notation: str, what: str) -> tuple[set[str], int]:
    out, bad = set(), 0
    for x in items:
        m = to_mol(x, notation)
        if m is None:
            bad += 1
        else:
            out.add(canonical(m))
    return out, bad


def novelty(predictions: list, train: list, notation: str = "auto") -> MetricResult:
    mols = _parse_all(predictions, notation)
    gen = {canonical(m) for m in mols if m is not None}
    n_bad = sum(m is None for m in mols)
    train_set, train_bad = _canonical_set(train, notation, "train")
    if not gen:
        return MetricResult.not_computed("novelty", "no valid molecules", len(mols), n_bad)
    if not train_set:
        raise EvalInputError("novelty: the training set has no valid molecule")
    novel = gen - train_set
    return MetricResult("novelty", len(novel) / len(gen), len(mols), n_bad,
                        details={"n_unique_valid": len(gen), "n_novel": len(novel),
                                 "train_size": len(train), "train_invalid": train_bad})


def morgan_bits(mols: Sequence, radius: int = 2, n_bits: int = 1024) -> np.ndarray:
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    out = np.zeros((len(mols), n_bits), dtype=np.float32)
    for i, m in enumerate(mols):
        out[i] = gen.GetFingerprintAsNumPy(m)
    return out


def _tanimoto_block(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = inter / union
    sim[np.isnan(sim)] = 1.0  # two empty fingerprints count as identical, as in MOSES
    return sim


def internal_diversity_value(fps: np.ndarray, p: int = 1, batch: int = 2048) -> float:
    agg = np.zeros(len(fps), dtype=np.float64)
    for i in range(0, len(fps), batch):
        sim = _tanimoto_block(fps[i:i + batch], fps).astype(np.float64)
        agg[i:i + batch] = (sim ** p).mean(axis=1)
    return float(1.0 - np.mean(agg ** (1.0 / p)))


def _intdiv(predictions: list, notation: str, p: int) -> MetricResult:
    name = f"intdiv{p}"
    mols = _parse_all(predictions, notation)
    valid = [m for m in mols if m is not None]
    n_bad = len(mols) - len(valid)
    if not valid:
        return MetricResult.not_computed(name, "no valid molecules", len(mols), n_bad)
    return MetricResult(name, internal_diversity_value(morgan_bits(valid), p), len(mols), n_bad)


def intdiv1(predictions: list, notation: str = "auto") -> MetricResult:
    return _intdiv(predictions, notation, 1)


def intdiv2(predictions: list, notation: str = "auto") -> MetricResult:
    return _intdiv(predictions, notation, 2)


def _valid_with_ref(predictions: list, references: list, notation: str, name: str):
    mols = _parse_all(predictions, notation)
    valid = [m for m in mols if m is not None]
    refs = [m for m in _parse_all(references, notation) if m is not None]
    if not refs:
        raise EvalInputError(f"{name}: the reference set has no valid molecule")
    return mols, valid, refs


def snn(predictions: list, references: list, notation: str = "auto") -> MetricResult:
    mols, valid, refs = _valid_with_ref(predictions, references, notation, "snn")
    n_bad = len(mols) - len(valid)
    if not valid:
        return MetricResult.not_computed("snn", "no valid molecules", len(mols), n_bad)
    gen_fp, ref_fp = morgan_bits(valid), morgan_bits(refs)
    best = np.zeros(len(valid))
    for i in range(0, len(valid), 2048):
        best[i:i + 2048] = _tanimoto_block(gen_fp[i:i + 2048], ref_fp).max(axis=1)
    return MetricResult("snn", float(best.mean()), len(mols), n_bad, details={"n_reference": len(refs)})


def brics_fragments(mol) -> list[str]:
    from rdkit import Chem

    return Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(mol)).split(".")


def murcko_scaffold(mol, min_rings: int = 2) -> str | None:
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    try:
        scaffold = MurckoScaffold.GetScaffoldForMol(mol)
    except (ValueError, RuntimeError):
        return None
    smiles = Chem.MolToSmiles(scaffold)
    if not smiles or scaffold.GetRingInfo().NumRings() < min_rings:
        return None
    return smiles


def cosine_of_counts(a: Counter, b: Counter) -> float:
    if not a or not b:
        return float("nan")
    keys = sorted(set(a) | set(b))
    va = np.array([a.get(k, 0) for k in keys], dtype=np.float64)
    vb = np.array([b.get(k, 0) for k in keys], dtype=np.float64)
    return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))


def frag(predictions: list, references: list, notation: str = "auto") -> MetricResult:
    mols, valid, refs = _valid_with_ref(predictions, references, notation, "frag")
    n_bad = len(mols) - len(valid)
    if not valid:
        return MetricResult.not_computed("frag", "no valid molecules", len(mols), n_bad)
    gen_c = Counter(f for m in valid for f in brics_fragments(m))
    ref_c = Counter(f for m in refs for f in brics_fragments(m))
    return MetricResult("frag", cosine_of_counts(gen_c, ref_c), len(mols), n_bad)


def scaf(predictions: list, references: list, notation: str = "auto", min_rings: int = 2) -> MetricResult:
    mols, valid, refs = _valid_with_ref(predictions, references, notation, "scaf")
    n_bad = len(mols) - len(valid)
    if not valid:
        return MetricResult.not_computed("scaf", "no valid molecules", len(mols), n_bad)
    gen_c = Counter(s for s in (murcko_scaffold(m, min_rings) for m in valid) if s)
    ref_c = Counter(s for s in (murcko_scaffold(m, min_rings) for m in refs) if s)
    value = cosine_of_counts(gen_c, ref_c)
    if np.isnan(value):
        return MetricResult.not_computed("scaf", f"no scaffold with >= {min_rings} rings in one of the sets",
                                         len(mols), n_bad)
    return MetricResult("scaf", value, len(mols), n_bad)


def fcd(predictions: list, references: list, notation: str = "auto") -> MetricResult:
    mols, valid, refs = _valid_with_ref(predictions, references, notation, "fcd")
    n_bad = len(mols) - len(valid)
    try:
        import fcd as fcd_pkg
    except ImportError:
        return MetricResult.not_computed("fcd", "the `fcd` package is not installed (pip install fcd)", len(mols),
                                         n_bad)
    if len(valid) < 2 or len(refs) < 2:
        return MetricResult.not_computed("fcd", "FCD needs at least 2 valid molecules on each side", len(mols), n_bad)
    import warnings

    with warnings.catch_warnings():  # fcd 1.2 uses numpy/scipy aliases that now warn
        warnings.simplefilter("ignore", DeprecationWarning)
        value = fcd_pkg.get_fcd([canonical(m) for m in valid], [canonical(m) for m in refs], device="cpu")
    return MetricResult("fcd", float(value), len(mols), n_bad, details={"n_reference": len(refs)})


# ------------------------------------------------------------------ per-item matches (SMolInstruct)

def _per_item(name: str, predictions: list, references: list, notation: str, score) -> MetricResult:
    """Mean of ``score(pred_mol, ref_mols)`` over items; an invalid prediction scores 0 and is counted."""
    refs = _reference_mols(references, notation)
    mols, reasons = _parse_counting(predictions, notation)
    hits, n_bad = 0.0, 0
    for mol, ref_mols in zip(mols, refs):
        if mol is None:
            n_bad += 1
            continue
        hits += score(mol, ref_mols)
    n = len(predictions)
    if n == 0:
        return MetricResult.not_computed(name, "no predictions")
    return MetricResult(name, hits / n, n, n_bad, details=reasons)


def exact_match(predictions: list, references: list, notation: str = "auto") -> MetricResult:
    return _per_item("exact_match", predictions, references, notation,
                     lambda m, refs: float(any(canonical(m) == canonical(r) for r in refs)))


def inchi_key_set(mol) -> tuple[str, ...]:
    """SMolInstruct's molecule identity: the sorted set of per-component standard InChIs."""
    from rdkit import Chem

    parts = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    return tuple(sorted({Chem.MolToInchi(p) for p in parts}))


def inchi_match(predictions: list, references: list, notation: str = "auto") -> MetricResult:
    with quiet_rdkit():  # InChI generation warns per unusual molecule: thousands of lines on a model's answers
        return _per_item("inchi_match", predictions, references, notation,
                         lambda m, refs: float(any(inchi_key_set(m) == inchi_key_set(r) for r in refs)))


def fingerprint(mol, kind: str):
    from rdkit import Chem
    from rdkit.Chem import MACCSkeys

    if kind == "morgan":
        return _morgan_count_gen().GetSparseCountFingerprint(mol)
    if kind == "maccs":
        return MACCSkeys.GenMACCSKeys(mol)
    if kind == "rdk":
        return Chem.RDKFingerprint(mol)
    raise EvalInputError(f"unknown fingerprint {kind!r}")


@lru_cache(maxsize=1)
def _morgan_count_gen():
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetMorganGenerator(radius=2)


def tanimoto(mol_a, mol_b, kind: str = "morgan") -> float:
    from rdkit import DataStructs

    return float(DataStructs.TanimotoSimilarity(fingerprint(mol_a, kind), fingerprint(mol_b, kind)))


def fts(predictions: list, references: list, notation: str = "auto", fp: str = "morgan",
        invalid_as_zero: bool = False) -> MetricResult:
    refs = _reference_mols(references, notation)
    sims, n_bad = [], 0
    for pred, ref_mols in zip(predictions, refs):
        mol = to_mol(pred, notation)
        if mol is None:
            n_bad += 1
            if invalid_as_zero:
                sims.append(0.0)
            continue
        sims.append(max(tanimoto(mol, r, fp) for r in ref_mols))
    if not sims:
        return MetricResult.not_computed("fts", "no valid predictions", len(predictions), n_bad)
    return MetricResult("fts", float(np.mean(sims)), len(predictions), n_bad, details={"fingerprint": fp})


_FORMULA_OK = re.compile(r"^([A-Z][a-z]?\d*|[\(\[\{]|[\)\]\}]\d*)+([+-]\d*)?$")
_FORMULA_TOKEN = re.compile(r"([A-Z][a-z]?)(\d*)|([\(\[\{])|([\)\]\}])(\d*)")


def parse_formula(formula: str) -> dict[str, int]:
    """Element counts of a molecular formula like ``C7H15Cl2N2OPS`` or ``Ca(OH)2``; charge as '+'/'-'."""
    text = formula.strip()
    if not text or not _FORMULA_OK.match(text):
        raise ValueError(f"not a molecular formula: {formula!r}")
    charge = re.search(r"[+-]\d*$", text)
    body = text[: charge.start()] if charge else text
    stack: list[Counter] = [Counter()]
    for m in _FORMULA_TOKEN.finditer(body):
        element, count, opening, closing, mult = m.groups()
        if element:
            stack[-1][element] += int(count or 1)
        elif opening:
            stack.append(Counter())
        else:
            if len(stack) == 1:
                raise ValueError(f"unbalanced ')' in {formula!r}")
            inner = stack.pop()
            for k, v in inner.items():
                stack[-1][k] += v * int(mult or 1)
    if len(stack) != 1:
        raise ValueError(f"unbalanced '(' in {formula!r}")
    out = dict(stack[0])
    if charge:
        sign, digits = charge.group()[0], charge.group()[1:]
        out[sign] = int(digits or 1)
    return out


def formula_match(predictions: list, references: list) -> MetricResult:
    hits, n_bad = 0, 0
    for i, (pred, ref) in enumerate(zip(predictions, references), start=1):
        alternatives = ref if isinstance(ref, list) else [ref]
        try:
            ref_counts = [parse_formula(str(r)) for r in alternatives]
        except ValueError as exc:
            raise EvalInputError(f"reference item {i}: {exc}") from exc
        try:
            pred_counts = parse_formula(str(pred)) if isinstance(pred, str) else None
        except ValueError:
            pred_counts = None
        if pred_counts is None:
            n_bad += 1
            continue
        hits += any(pred_counts == r for r in ref_counts)
    if not predictions:
        return MetricResult.not_computed("formula_match", "no predictions")
    return MetricResult("formula_match", hits / len(predictions), len(predictions), n_bad)


def iupac_match(predictions: list, references: list) -> MetricResult:
    def key(s: str) -> tuple[str, ...]:
        return tuple(sorted(p.strip() for p in s.strip().split(";")))

    hits, n_bad = 0, 0
    for pred, ref in zip(predictions, references):
        alternatives = ref if isinstance(ref, list) else [ref]
        if not isinstance(pred, str) or not pred.strip():
            n_bad += 1
            continue
        hits += any(key(pred) == key(str(r)) for r in alternatives)
    if not predictions:
        return MetricResult.not_computed("iupac_match", "no predictions")
    return MetricResult("iupac_match", hits / len(predictions), len(predictions), n_bad)
