"""Text-conditioned protein design metrics: the ProDVa protocol of the tech report's Tables 23-24.

ProDVa (Liu et al., NeurIPS 2025) evaluates with PDFBench (github.com/PDFBench/PDFBench, same authors; the
ProDVa repository's evaluation entry point defers to it, and the CAMEO baselines of the report's Table 23
match PDFBench's keyword-guided results to within run-to-run noise). Definitions follow PDFBench's code;
eval/cards/metrics.yaml lists each with its source and every place where this implementation differs.

- ``rep``: PDFBench "Repeat" (fraction of residues inside tandem repeats), or Welleck et al.'s seq-rep-n.
- ``seq_diversity_pct``: 100 x mean pairwise (1 - sequence identity) among the designs of one prompt.
- ``plddt_gt70_pct``, ``pae``, ``pae_lt10_pct``: from the injected folding model of :mod:`.proteins`.
- ``protrek``, ``retrieval_accuracy_pct``: ProTrek text/protein embeddings (injected).
- ``keyword_recovery_pct``: InterPro annotations of reference and design (InterProScan, injected).
- ``evollama_pct``: EvoLlama's generated function text vs the instruction, PubMedBERT embeddings (injected).

The models are weights, GPUs or a Java tool this package does not ship. Each is one small interface with
a setter (``set_protein_text_embedder``, ``set_keyword_annotator``, ``set_protein_describer`` +
``set_text_embedder``); without it the metric reports ``not_computed`` with the reason. The metrics do
the protocol's arithmetic (cosines, negative sampling, set recovery, thresholds) on the models' outputs.

Units are the paper's (Tables 23-24): ``rep`` a fraction, ``pae`` Angstrom, everything named ``*_pct``
plus ``protrek`` in percent (cosine x 100, as PDFBench reports it).
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, Protocol

import numpy as np

from biomatrix_plugin.eval import proteins
from biomatrix_plugin.eval.proteins import NO_PREDICTOR, parsed_sequences, protein_sequence
from biomatrix_plugin.eval.spec import EvalInputError, MetricResult

# ------------------------------------------------------------------ sequence plausibility: Rep

def repeat_fraction(sequence: str, max_window: int = 20, min_copies: int = 3) -> float:
    """Fraction of residues inside tandem repeats (PDFBench ``compute_repeat``).

    For every unit length w <= min(20, n // 2) and start i, the unit s[i:i+w] followed by at least two
    more exact back-to-back copies marks s[i : i + w * copies] as repeated; the answer is the size of the
    union of marked positions over n.
    """
    n = len(sequence)
    if n == 0:
        return 0.0
    codes = np.frombuffer(sequence.encode(), dtype=np.uint8)
    coverage = np.zeros(n + 1, dtype=np.int64)
    for w in range(1, min(max_window, n // 2) + 1):
        same = codes[:-w] == codes[w:]  # same[k]: residue k equals residue k + w
        # run[k] = consecutive True values of `same` from k on; s[i:i+w] repeats back-to-back
        # 1 + run[i] // w times in total
        idx = np.arange(len(same))
        next_false = np.where(~same, idx, len(same))
        next_false = np.minimum.accumulate(next_false[::-1])[::-1]
        run = next_false - idx
        starts = np.nonzero(run >= (min_copies - 1) * w)[0]
        if starts.size:
            ends = starts + w * (1 + run[starts] // w)
            np.add.at(coverage, starts, 1)
            np.add.at(coverage, ends, -1)
    return float(np.count_nonzero(np.cumsum(coverage)[:n] > 0) / n)


def rep_n(sequence: str, n: int) -> float:
    """seq-rep-n of Welleck et al. (2020): 1 - distinct n-grams / n-grams (PDFBench Rep-N; 0 when len <= n)."""
    if len(sequence) <= n:
        return 0.0
    grams = [sequence[i:i + n] for i in range(len(sequence) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams)


def rep(predictions: list, method: str = "repeat", n: int = 2) -> MetricResult:
    if n < 1:
        raise EvalInputError(f"rep: option n={n} must be >= 1")
    _, seqs = parsed_sequences(predictions)
    values = [repeat_fraction(seq) if method == "repeat" else rep_n(seq, n) for seq in seqs]
    bad = len(predictions) - len(seqs)
    if not values:
        return MetricResult.not_computed("rep", "no parsable designed sequence", len(predictions), bad)
    return MetricResult("rep", float(np.mean(values)), len(predictions), bad,
                        details={"method": method, **({"n": n} if method == "rep_n" else {})})


# ------------------------------------------------------------------ sequence diversity

# BLOSUM62 with gap open 11 / extend 1 (BLAST and MMseqs2 defaults) and its Karlin-Altschul statistics
GAPPED_LAMBDA, GAPPED_K = 0.267, 0.041
_ALIGN: dict[str, Any] = {}


def _aligner():
    if not _ALIGN:
        import biotite.sequence as bseq
        import biotite.sequence.align as balign

        _ALIGN.update(seq=bseq, align=balign, matrix=balign.SubstitutionMatrix.std_protein_matrix(),
                      letters=set(bseq.ProteinSequence.alphabet.get_symbols()))
    return _ALIGN


def local_identity(a: str, b: str) -> tuple[float, float]:
    """(identity, E-value) of the best Smith-Waterman alignment of two sequences.

    Identity = identical columns / alignment columns (gaps included), as MMseqs2's ``fident``; the
    E-value is K m n exp(-lambda S). Letters outside the 20 + BXZ alphabet (U, O, J) are read as X.
    """
    al = _aligner()

    def as_seq(s: str):
        return al["seq"].ProteinSequence("".join(c if c in al["letters"] else "X" for c in s))

    # biotite charges `open` for a gap's first residue, BLAST/MMseqs2 charge open + extend: 11/1 -> 12/1
    alignment = al["align"].align_optimal(as_seq(a), as_seq(b), al["matrix"], gap_penalty=(-12, -1),
                                          local=True, max_number=1)[0]
    evalue = GAPPED_K * len(a) * len(b) * float(np.exp(-GAPPED_LAMBDA * float(alignment.score)))
    if alignment.score <= 0 or len(alignment.trace) == 0:
        return 0.0, evalue
    return float(al["align"].get_sequence_identity(alignment, mode="all")), evalue


def group_diversity(sequences: list[str], max_evalue: float) -> float:
    """Mean over pairs of 1 - identity; a pair without a significant hit (E > max_evalue) counts 1."""
    dissimilar = []
    for i in range(len(sequences)):
        for j in range(i + 1, len(sequences)):
            identity, evalue = local_identity(sequences[i], sequences[j])
            dissimilar.append(1.0 - identity if evalue <= max_evalue else 1.0)
    return float(np.mean(dissimilar))


def seq_diversity_pct(predictions: list, references: list, group: str = "prompt",
                      max_evalue: float = 1e-3) -> MetricResult:
    """A prediction is one design or a JSON list of designs; its reference names the prompt (any value)."""
    if max_evalue <= 0:
        raise EvalInputError(f"seq_diversity_pct: option max_evalue={max_evalue} must be > 0")
    by_prompt: dict[str, list[str]] = {}
    bad = unparsable = 0
    for p, r in zip(predictions, references):
        designs = p if isinstance(p, list) else [p]
        seqs = [s for s in map(protein_sequence, designs) if s]
        unparsable += len(designs) - len(seqs)
        bad += not seqs
        key = "" if group == "set" else json.dumps(r, sort_keys=True)
        by_prompt.setdefault(key, []).extend(seqs)
    groups = [g for g in by_prompt.values() if len(g) >= 2]
    details = {"group": group, "n_groups": len(groups), "n_groups_below_two_designs": len(by_prompt) - len(groups),
               "n_unparsable_designs": unparsable, "max_evalue": max_evalue}
    if not groups:
        reason = ("needs at least two parsable designs per prompt: repeat the prompt's reference on the line of "
                  "each of its designs, give a JSON list of designs per line, or use --option group=set")
        return MetricResult.not_computed("seq_diversity_pct", reason, len(predictions), bad, **details)
    value = 100.0 * float(np.mean([group_diversity(g, max_evalue) for g in groups]))
    return MetricResult("seq_diversity_pct", value, len(predictions), bad, details=details)


# ------------------------------------------------------------------ foldability (injected folding model)

def _fold_designs(name: str, predictions: list) -> tuple[list[tuple[float, float | None]], int]:
    folded, bad = proteins._fold_all(name, predictions)
    return [(f[3], f[4]) for f in folded], bad


def plddt_gt70_pct(predictions: list) -> MetricResult:
    if proteins._PREDICTOR is None:
        return MetricResult.not_computed("plddt_gt70_pct", NO_PREDICTOR, len(predictions))
    if not predictions:
        return MetricResult.not_computed("plddt_gt70_pct", "no designs", 0)
    folded, bad = _fold_designs("plddt_gt70_pct", predictions)
    proteins.check_plddt_scale("plddt_gt70_pct", [plddt for plddt, _ in folded])
    # the denominator is every design: PDFBench's (pLDDT > 0.7).mean() counts a failed fold (NaN) as below
    hits = sum(plddt > 70.0 for plddt, _ in folded)
    return MetricResult("plddt_gt70_pct", 100.0 * hits / len(predictions), len(predictions), bad,
                        details={"n_folded": len(folded)})


def _pae_values(name: str, predictions: list) -> tuple[list[float] | MetricResult, int]:
    if proteins._PREDICTOR is None:
        return MetricResult.not_computed(name, NO_PREDICTOR, len(predictions)), 0
    folded, bad = _fold_designs(name, predictions)
    if any(pae is None for _, pae in folded):
        return MetricResult.not_computed(
            name, "the injected structure predictor returns no PAE: make fold() return (coords, plddt, pae) "
                  "with pae an (N, N) matrix in Angstrom or its mean", len(predictions), bad), bad
    return [pae for _, pae in folded], bad


def pae(predictions: list) -> MetricResult:
    values, bad = _pae_values("pae", predictions)
    if isinstance(values, MetricResult):
        return values
    if not values:
        return MetricResult.not_computed("pae", "no parsable designed sequence", len(predictions), bad)
    return MetricResult("pae", float(np.mean(values)), len(predictions), bad)


def pae_lt10_pct(predictions: list) -> MetricResult:
    values, bad = _pae_values("pae_lt10_pct", predictions)
    if isinstance(values, MetricResult):
        return values
    if not predictions:
        return MetricResult.not_computed("pae_lt10_pct", "no designs", 0)
    return MetricResult("pae_lt10_pct", 100.0 * sum(v < 10.0 for v in values) / len(predictions),
                        len(predictions), bad, details={"n_folded": len(values)})


# ------------------------------------------------------------------ language alignment (injected models)

class ProteinTextEmbedder(Protocol):
    """ProTrek (650M, UniRef50): texts and protein sequences embedded into one space, one row per input."""

    def embed_texts(self, texts: list[str]) -> np.ndarray: ...

    def embed_proteins(self, sequences: list[str]) -> np.ndarray: ...


class KeywordAnnotator(Protocol):
    """InterProScan: the InterPro entry accessions (e.g. ``IPR000719``) found in each sequence."""

    def annotate(self, sequences: list[str]) -> list[Iterable[str]]: ...


class ProteinDescriber(Protocol):
    """EvoLlama: the function text it generates for each sequence (prompt "The function of the protein is:")."""

    def describe(self, sequences: list[str]) -> list[str]: ...


class TextEmbedder(Protocol):
    """A sentence embedding model (PubMedBERT embeddings, mean-pooled, for the EvoLlama score)."""

    def embed(self, texts: list[str]) -> np.ndarray: ...


_MODELS: dict[str, Any] = {"protrek": None, "interpro": None, "describer": None, "text": None}
NO_PROTREK = ("needs ProTrek (650M weights + GPU), not shipped: inject an object with embed_texts/embed_proteins "
              "via biomatrix_plugin.eval.protein_design.set_protein_text_embedder()")
NO_INTERPRO = ("needs InterProScan (Java tool + member databases), not shipped: inject an object with annotate() "
               "via biomatrix_plugin.eval.protein_design.set_keyword_annotator()")
NO_EVOLLAMA = ("needs EvoLlama (weights + GPU) and a PubMedBERT text embedder, not shipped: inject them via "
               "biomatrix_plugin.eval.protein_design.set_protein_describer() and set_text_embedder()")


def set_protein_text_embedder(model: ProteinTextEmbedder | None) -> None:
    _MODELS["protrek"] = model


def set_keyword_annotator(model: KeywordAnnotator | None) -> None:
    _MODELS["interpro"] = model


def set_protein_describer(model: ProteinDescriber | None) -> None:
    _MODELS["describer"] = model


def set_text_embedder(model: TextEmbedder | None) -> None:
    _MODELS["text"] = model


SUFFIX = "The designed protein sequence is"


def function_text(instruction: str, mode: str) -> str:
    """The part of a design instruction the alignment models see (PDFBench's two prompt parsers).

    keywords: CAMEO prompts ("... function keywords: K1, K2. The designed protein sequence is "): the text
    after the first colon. description: Mol-Instructions prompts: from "1." on. Both drop the suffix.
    """
    text = instruction.strip()
    if mode == "as_is":
        return text
    if text.endswith(SUFFIX):
        text = text[: -len(SUFFIX)].rstrip()
    if mode == "keywords":
        if ":" in text:
            text = text.split(":", 1)[1]
        return text.strip().rstrip(".").strip()
    match = re.search(r"1\.", text)
    return text[match.start():].strip() if match else text




def _texts(name: str, references: list, mode: str) -> list[str]:
    out = []
    for i, r in enumerate(references, start=1):
        if not isinstance(r, str) or not r.strip():
            raise EvalInputError(f"{name}: reference item {i} is not a text (the design instruction or function)")
        out.append(function_text(r, mode))
    return out


def _embeddings(name: str, what: str, array: Any, n: int) -> np.ndarray:
    arr = np.asarray(array, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise EvalInputError(f"{name}: the injected model returned {what} embeddings of shape {arr.shape}, "
                             f"expected ({n}, dim)")
    return arr


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm == 0, 1.0, norm)


def _protrek_cosines(name: str, predictions: list, references: list, text: str, max_length: int):
    """(indices of parsable designs, text x design cosine matrix over them) with ProTrek embeddings."""
    if max_length < 1:
        raise EvalInputError(f"{name}: option max_length={max_length} must be >= 1")
    texts = _texts(name, references, text)
    keep, seqs = parsed_sequences(predictions)
    if not keep:
        return keep, None
    model = _MODELS["protrek"]
    t = _unit_rows(_embeddings(name, "text", model.embed_texts([texts[i] for i in keep]), len(keep)))
    s = _unit_rows(_embeddings(name, "protein", model.embed_proteins([q[:max_length] for q in seqs]), len(keep)))
    return keep, t @ s.T


def protrek(predictions: list, references: list, text: str = "as_is", max_length: int = 2048) -> MetricResult:
    if _MODELS["protrek"] is None:
        return MetricResult.not_computed("protrek", NO_PROTREK, len(predictions))
    keep, cos = _protrek_cosines("protrek", predictions, references, text, max_length)
    bad = len(predictions) - len(keep)
    if not keep:
        return MetricResult.not_computed("protrek", "no parsable designed sequence", len(predictions), bad)
    return MetricResult("protrek", 100.0 * float(np.mean(np.diag(cos))), len(predictions), bad)


def retrieval_accuracy_pct(predictions: list, references: list, text: str = "as_is", max_length: int = 2048,
                           n_candidates: int = 20, difficulty: str = "normal", seed: int = 0) -> MetricResult:
    name = "retrieval_accuracy_pct"
    if n_candidates < 2:
        raise EvalInputError(f"{name}: option n_candidates={n_candidates} must be >= 2")
    if _MODELS["protrek"] is None:
        return MetricResult.not_computed(name, NO_PROTREK, len(predictions))
    keep, cos = _protrek_cosines(name, predictions, references, text, max_length)
    bad = len(predictions) - len(keep)
    if len(keep) < n_candidates:
        return MetricResult.not_computed(
            name, f"{len(keep)} parsable designs; n_candidates={n_candidates} needs at least that many",
            len(predictions), bad)
    m = len(keep)
    text_sim = None
    if difficulty != "normal":
        t = _unit_rows(_embeddings(name, "text", _MODELS["protrek"].embed_texts(
            [function_text(references[i], text) for i in keep]), m))
        text_sim = t @ t.T
    rng = np.random.default_rng(seed)
    hits = 0
    for q in range(m):
        others = np.delete(np.arange(m), q)
        if difficulty == "normal":
            negatives = rng.choice(others, size=n_candidates - 1, replace=False)
        else:
            # stable sort: ties keep item order, so the result does not depend on the platform
            order = others[np.argsort(-text_sim[q, others] if difficulty == "hard" else text_sim[q, others],
                                      kind="stable")]
            negatives = order[: n_candidates - 1]
        # a tie with a negative counts as retrieved, as PDFBench's `pos == max(scores)` does
        hits += bool(cos[q, q] >= cos[q, negatives].max())
    # unparsable designs cannot be retrieved: they stay in the denominator as misses
    return MetricResult(name, 100.0 * hits / len(predictions), len(predictions), bad,
                        details={"n_candidates": n_candidates, "difficulty": difficulty, "seed": seed})


def keyword_recovery_pct(predictions: list, references: list) -> MetricResult:
    name = "keyword_recovery_pct"
    annotator = _MODELS["interpro"]
    if annotator is None:
        return MetricResult.not_computed(name, NO_INTERPRO, len(predictions))
    keep, seqs = parsed_sequences(predictions)
    to_scan, ref_sets = [], []
    for i, r in enumerate(references, start=1):
        if isinstance(r, list):
            ref_sets.append({str(k).strip() for k in r if str(k).strip()})
            continue
        native = protein_sequence(r)
        if not native:
            raise EvalInputError(f"{name}: reference item {i} is neither a protein sequence nor a list of keywords")
        ref_sets.append(None)
        to_scan.append((i - 1, native))
    unique = sorted(set(seqs) | {s for _, s in to_scan})
    found = annotator.annotate(unique) if unique else []
    if len(found) != len(unique):
        raise EvalInputError(f"{name}: the injected annotator returned {len(found)} results for {len(unique)} "
                             "sequences")
    keywords = {s: {str(k) for k in f} for s, f in zip(unique, found)}
    for i, native in to_scan:
        ref_sets[i] = keywords[native]
    design = dict(zip(keep, seqs))
    values, no_keywords = [], 0
    for i, ref in enumerate(ref_sets):
        if not ref:
            # nothing to recover: left out of the mean, as PDFBench's NaN is
            no_keywords += 1
            continue
        got = keywords[design[i]] if i in design else set()  # an unparsable design recovers nothing
        values.append(len(ref & got) / len(ref))
    bad = len(predictions) - len(keep)
    details = {"n_without_reference_keywords": no_keywords}
    if not values:
        return MetricResult.not_computed(name, "no reference has a keyword", len(predictions), bad, **details)
    return MetricResult(name, 100.0 * float(np.mean(values)), len(predictions), bad, details=details)


def evollama_pct(predictions: list, references: list, text: str = "as_is") -> MetricResult:
    name = "evollama_pct"
    if _MODELS["describer"] is None or _MODELS["text"] is None:
        return MetricResult.not_computed(name, NO_EVOLLAMA, len(predictions))
    texts = _texts(name, references, text)
    keep, seqs = parsed_sequences(predictions)
    bad = len(predictions) - len(keep)
    if not keep:
        return MetricResult.not_computed(name, "no parsable designed sequence", len(predictions), bad)
    described = list(_MODELS["describer"].describe(seqs))
    if len(described) != len(seqs) or not all(isinstance(d, str) for d in described):
        raise EvalInputError(f"{name}: the injected describer must return one text per sequence")
    emb = _MODELS["text"].embed(described + [texts[i] for i in keep])
    emb = _unit_rows(_embeddings(name, "text", emb, 2 * len(keep)))
    cos = np.sum(emb[: len(keep)] * emb[len(keep):], axis=1)
    return MetricResult(name, 100.0 * float(np.mean(cos)), len(predictions), bad)
