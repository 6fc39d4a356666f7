"""The metric registry: one table names every metric, its code (``"module:function"``) and what it is.

A metric = one :class:`~biomatrix_plugin.eval.spec.MetricSpec` in :data:`METRIC_TABLE`: its family, inputs,
unit (fraction / percent / raw, used by the report to print it in the paper's unit), direction, options, the
paper metric names it may be reported under, and ``impl``, where its function lives. Nothing here imports a
metric family: ``get_metric``/``list_metrics`` read the table, and a family module is imported by name only
when one of its metrics is computed (``biomatrix eval metric --list`` imports no RDKit, no scipy, no nltk).

Every metric returns a :class:`MetricResult` with the value, how many items it saw and how many of them
were invalid/unparseable, so a score is never silently computed over fewer items than were given.
A metric that cannot run here (missing optional package, model weights, data) returns
``status="not_computed"`` with the reason instead of raising, so reports can show why.
"""

from __future__ import annotations

import difflib
from typing import Any

from biomatrix_plugin.eval.spec import (  # noqa: F401  (re-exported: the registry is the public entry point)
    UNITS,
    EvalInputError,
    InputKind,
    MetricResult,
    MetricSpec,
    OptionSpec,
    Unit,
)

# ------------------------------------------------------------------ option sets shared by several metrics

NOTATION = {"notation": OptionSpec(str, "auto", "how to read molecules", ("auto", "smiles", "selfies"))}
TEXT_OPTIONS = {
    "tokenizer": OptionSpec(str, "regex", "regex | whitespace | hf:/local/tokenizer/dir"),
    "empty": OptionSpec(str, "skip", "empty predictions: skip (SMolInstruct) or zero", ("skip", "zero")),
}
ROUGE_OPTIONS = {
    "empty": TEXT_OPTIONS["empty"],
    "stemmer": OptionSpec(bool, False, "Porter-stem tokens before matching (rouge-score use_stemmer)"),
}
NUMERIC_OPTIONS = {
    "extract": OptionSpec(str, "strict", "strict: the whole prediction is a number; first: first number in it",
                          ("strict", "first")),
}
SET_OPTIONS = {
    "sep": OptionSpec(str, ";", "label separator inside a text item (JSON lists need none)"),
    "case_sensitive": OptionSpec(bool, False, "compare labels case-sensitively"),
}
MMD_OPTIONS = {
    "top_k": OptionSpec(int, 5, "average over the K types most frequent in the reference"),
    "bandwidth": OptionSpec(float, 0.0, "Gaussian kernel sigma (A for lengths, degrees for angles); "
                                        "0 = median heuristic per type"),
    "max_samples": OptionSpec(int, 5000, "seeded subsample of at most this many values per side and type"),
    "seed": OptionSpec(int, 0, "seed of the subsampling"),
}
CUSTOM_OPTIONS = {
    **NOTATION,
    "columns": OptionSpec(str, "tomg", "tomg: as TOMG-Bench's evaluate.py, unlisted atom / functional-group counts "
                                       "must be 0 and zero bond counts are unchecked; listed: only the listed counts",
                          ("tomg", "listed")),
}
DESIGN_TEXT = {
    "text": OptionSpec(str, "as_is", "what of each reference the text model sees: as_is, keywords (after the first "
                                     "colon, CAMEO prompts) or description (from '1.' on, Mol-Instructions prompts); "
                                     "the prompt's closing 'The designed protein sequence is' is dropped",
                       ("as_is", "keywords", "description")),
}
MAX_LENGTH = {
    "max_length": OptionSpec(int, 2048, "designs are cut to this many residues before ProTrek (PDFBench truncates "
                                        "at 2048)"),
}

# ------------------------------------------------------------------ option sets of one metric each

SCAF_OPTIONS = {**NOTATION, "min_rings": OptionSpec(int, 2, "scaffolds with fewer rings are ignored (MOSES: 2)")}
FTS_OPTIONS = {
    **NOTATION,
    "fp": OptionSpec(str, "morgan", "fingerprint: morgan (r=2 counts), maccs, rdk", ("morgan", "maccs", "rdk")),
    "invalid_as_zero": OptionSpec(bool, False, "average over all items with invalid = 0 (default: over valid "
                                               "predictions, as SMolInstruct)"),
}
# Strict-criterion thresholds of DrugAssist's evaluation (evaluate/small_molecule_editing.py, task2threshold_list):
# QED, BBBP and hERG 0.1, acceptors and donors 1; solubility must change by an amount inside (0.5, 1.5).
# molecule_design.correct_strict explains the comparison and saturation rules.
STRICT_THRESHOLDS = {"qed": 0.1, "hba": 1.0, "hbd": 1.0, "bbbp": 0.1, "herg": 0.1}
STRICT_ESOL_RANGE = (0.5, 1.5)
CORRECT_STRICT_OPTIONS = {
    **NOTATION,
    "threshold_qed": OptionSpec(float, STRICT_THRESHOLDS["qed"], "minimum QED change"),
    "threshold_hba": OptionSpec(float, STRICT_THRESHOLDS["hba"], "minimum H-bond acceptor change"),
    "threshold_hbd": OptionSpec(float, STRICT_THRESHOLDS["hbd"], "minimum H-bond donor change"),
    "threshold_logp": OptionSpec(float, float("nan"), "minimum logP change (no default)"),
    "esol_range_low": OptionSpec(float, STRICT_ESOL_RANGE[0], "solubility: the change must exceed this "
                                                              "(DrugAssist: 0.5)"),
    "esol_range_high": OptionSpec(float, STRICT_ESOL_RANGE[1], "solubility: the change must stay below this "
                                                               "(DrugAssist: 1.5)"),
    "threshold_esol": OptionSpec(float, float("nan"), "if set, solubility uses this minimum change instead of the "
                                                      "range"),
    "threshold_bbbp": OptionSpec(float, STRICT_THRESHOLDS["bbbp"], "minimum predicted BBBP change"),
    "threshold_herg": OptionSpec(float, STRICT_THRESHOLDS["herg"], "minimum predicted hERG change"),
    "comparison": OptionSpec(str, "gt", "gt: change > threshold (DrugAssist's code); ge: change >= threshold (the "
                                        "report's wording)"),
    "saturation": OptionSpec(str, "true", "true: QED/BBBP above 0.9 or hERG below 0.1 only has to move the right "
                                          "way (DrugAssist)"),
}
PROPERTY_MAE_OPTIONS = {
    **NOTATION,
    "property": OptionSpec(str, "", "property oracle name (RDKit built-in or registered predictor)"),
}
DIHEDRAL_MMD_OPTIONS = {
    **MMD_OPTIONS,
    "periodic": OptionSpec(bool, False, "kernel on the circular difference (a dihedral of 179 and -179 degrees are "
                                        "2 apart); false = plain signed degrees, as the published evaluations"),
}
ACCURACY_OPTIONS = {
    "case_sensitive": OptionSpec(bool, False, "compare labels case-sensitively"),
    "regex": OptionSpec(str, "", "take the label from the prediction's first match of this regex (its first group "
                                 "if it has one), e.g. \\b([A-D])\\b for multiple choice; no match = invalid"),
}
AAR_OPTIONS = {"agg": OptionSpec(str, "mean", "aggregate per-protein recovery by mean or median", ("mean", "median"))}
ALIGN = {"align": OptionSpec(str, "tmalign", "tmalign (TM-align, any lengths) or residue (index-matched, equal "
                                             "lengths only)", ("tmalign", "residue"))}
REP_OPTIONS = {
    "method": OptionSpec(str, "repeat", "repeat: PDFBench Repeat (fraction of residues in tandem repeats, the "
                                        "ProDVa tables' Rep); rep_n: seq-rep-n of Welleck et al.", ("repeat", "rep_n")),
    "n": OptionSpec(int, 2, "n-gram size for method=rep_n"),
}
SEQ_DIVERSITY_PCT_OPTIONS = {
    "group": OptionSpec(str, "prompt", "prompt: designs whose references are equal form one group (PDFBench: the "
                                       "designs of one prompt); set: all designs form one group", ("prompt", "set")),
    "max_evalue": OptionSpec(float, 1e-3, "a pair whose best local alignment has a larger E-value is no hit "
                                          "(dissimilarity 1), standing in for MMseqs2's prefilter"),
}
RETRIEVAL_ACCURACY_PCT_OPTIONS = {
    **DESIGN_TEXT, **MAX_LENGTH,
    "n_candidates": OptionSpec(int, 20, "candidates per query: the design plus n_candidates - 1 negatives "
                                        "(PDFBench reports 4, 10 and 20)"),
    "difficulty": OptionSpec(str, "normal", "normal: negatives drawn at random from the other designs; hard / soft: "
                                            "designs of the prompts whose texts are most / least similar to this one",
                             ("normal", "hard", "soft")),
    "seed": OptionSpec(int, 0, "seed of the negative sampling (difficulty=normal)"),
}

# ------------------------------------------------------------------ the table

METRIC_TABLE: tuple[MetricSpec, ...] = (
    # molecules.py
    MetricSpec("validity", "molecules:validity", "molecules", inputs="set", unit="fraction",
               options=NOTATION,
               report_as={"validity_loose": {}, "validity_strict": {}},
               definition="fraction of generated items that parse into an RDKit molecule (empty = invalid)"),
    MetricSpec("uniqueness", "molecules:uniqueness", "molecules", inputs="set", unit="fraction",
               options=NOTATION,
               definition="unique canonical SMILES / valid molecules (MOSES unique@all, GuacaMol uniqueness)"),
    MetricSpec("novelty", "molecules:novelty", "molecules", inputs="set", unit="fraction", needs_train=True,
               options=NOTATION,
               definition="unique valid generated molecules absent from the training set / unique valid (MOSES)"),
    MetricSpec("intdiv1", "molecules:intdiv1", "molecules", inputs="set",
               options=NOTATION,
               definition="1 - mean pairwise Tanimoto (Morgan r2, 1024 bits) over valid molecules, self pairs "
                          "included (MOSES)"),
    MetricSpec("intdiv2", "molecules:intdiv2", "molecules", inputs="set",
               options=NOTATION,
               definition="1 - mean_i sqrt(mean_j T_ij^2) over valid molecules (MOSES IntDiv2)"),
    MetricSpec("snn", "molecules:snn", "molecules", inputs="set_vs_reference",
               options=NOTATION,
               definition="mean over valid generated molecules of the max Tanimoto (Morgan r2 1024) to the reference "
                          "set (MOSES SNN)"),
    MetricSpec("frag", "molecules:frag", "molecules", inputs="set_vs_reference",
               options=NOTATION,
               definition="cosine similarity of BRICS fragment counts, generated (valid) vs reference (MOSES Frag)"),
    MetricSpec("scaf", "molecules:scaf", "molecules", inputs="set_vs_reference",
               options=SCAF_OPTIONS,
               definition="cosine similarity of Bemis-Murcko scaffold counts, generated (valid) vs reference (MOSES "
                          "Scaf)"),
    MetricSpec("fcd", "molecules:fcd", "molecules", inputs="set_vs_reference", higher_is_better=False,
               options=NOTATION,
               definition="Frechet ChemNet Distance between valid generated and reference molecules (canonical "
                          "SMILES; `fcd` package)"),
    MetricSpec("exact_match", "molecules:exact_match", "molecules", unit="fraction",
               options=NOTATION,
               definition="fraction whose canonical SMILES equals the reference's (any listed alternative); invalid "
                          "= wrong"),
    MetricSpec("inchi_match", "molecules:inchi_match", "molecules", unit="fraction",
               options=NOTATION,
               definition="fraction whose set of per-component InChIs equals the reference's (SMolInstruct's exact "
                          "match)"),
    MetricSpec("fts", "molecules:fts", "molecules", unit="fraction",
               options=FTS_OPTIONS,
               definition="fingerprint Tanimoto similarity to the reference (best alternative), mean over valid "
                          "predictions"),
    MetricSpec("formula_match", "molecules:formula_match", "molecules", unit="fraction",
               definition="fraction whose molecular formula has the reference's element counts (order-free, "
                          "SMolInstruct I2F/S2F)"),
    MetricSpec("iupac_match", "molecules:iupac_match", "molecules", unit="fraction",
               definition="fraction whose IUPAC name equals the reference after stripping, ';'-separated parts "
                          "compared as sorted sets (SMolInstruct string rule)"),
    # molecule_design.py
    MetricSpec("edit_sr", "molecule_design:edit_sr", "molecules", reference="first", unit="fraction",
               options=NOTATION,
               definition="S2-Bench MolEdit success rate: valid output whose added/removed group count changed by "
                          "exactly +1/-1"),
    MetricSpec("edit_wsr", "molecule_design:edit_wsr", "molecules", reference="first", unit="fraction",
               options=NOTATION,
               definition="S2-Bench MolEdit weighted success: SR x mean Morgan(2048) similarity of valid outputs to "
                          "the input"),
    MetricSpec("custom_sr", "molecule_design:custom_sr", "molecules", reference="first", unit="fraction",
               options=CUSTOM_OPTIONS,
               definition="S2-Bench MolCustom success rate: valid output with every requested atom/bond/group count "
                          "(unlisted atoms and groups = 0, as TOMG-Bench)"),
    MetricSpec("custom_wsr", "molecule_design:custom_wsr", "molecules", reference="first", unit="fraction",
               needs_train=True,
               options=CUSTOM_OPTIONS,
               definition="S2-Bench MolCustom weighted success: SR x mean novelty (1 - max Tanimoto to --train, e.g. "
                          "ZINC-250K)"),
    MetricSpec("opt_sr", "molecule_design:opt_sr", "molecules", reference="first", unit="fraction",
               options=NOTATION,
               definition="S2-Bench MolOpt success rate: valid output whose property (logP, MR, QED, ...) moved in "
                          "the asked direction"),
    MetricSpec("opt_wsr", "molecule_design:opt_wsr", "molecules", reference="first", unit="fraction",
               options=NOTATION,
               definition="S2-Bench MolOpt weighted success: SR x mean Morgan(2048) similarity of valid outputs to "
                          "the input"),
    MetricSpec("correct_loose", "molecule_design:correct_loose", "molecules", reference="first", unit="fraction",
               options=NOTATION,
               definition="MolOpt-Instructions loose criterion: every requested property moved in its direction "
                          "(oracles: RDKit or registered)"),
    MetricSpec("correct_strict", "molecule_design:correct_strict", "molecules", reference="first", unit="fraction",
               options=CORRECT_STRICT_OPTIONS,
               definition="MolOpt-Instructions strict criterion as DrugAssist's evaluation: every property moved by "
                          "more than its threshold (QED, BBBP, hERG 0.1; acceptors, donors 1), saturated properties "
                          "excepted; solubility's change inside (0.5, 1.5)"),
    MetricSpec("property_mae", "molecule_design:property_mae", "molecules", reference="first", higher_is_better=False,
               options=PROPERTY_MAE_OPTIONS,
               definition="mean |oracle(generated molecule) - target| over valid outputs (QM9 conditional protocol; "
                          "predictor injected)"),
    # molecules3d.py
    MetricSpec("atom_stability", "molecules3d:atom_stability", "molecules", inputs="set", unit="fraction",
               definition="fraction of atoms (over all valid 3D molecules) whose distance-inferred bond orders sum "
                          "to their valence (EDM / QM9)"),
    MetricSpec("mol_stability", "molecules3d:mol_stability", "molecules", inputs="set", unit="fraction",
               definition="fraction of 3D molecules whose atoms are all stable (EDM / QM9); unreadable items count "
                          "as unstable"),
    MetricSpec("validity_3d", "molecules3d:validity_3d", "molecules", inputs="set", unit="fraction",
               options={"complete": OptionSpec(bool, False, "also require a single connected fragment (V&C)")},
               report_as={"validity_completeness": {"complete": True}},
               definition="fraction of 3D molecules whose distance-inferred bond graph RDKit sanitises (EDM "
                          "validity; complete=true: V&C)"),
    MetricSpec("bond_length_mmd", "molecules3d:bond_length_mmd", "molecules", inputs="set_vs_reference",
               higher_is_better=False,
               options=MMD_OPTIONS,
               definition="mean over the top-K reference bond types (element pair + order) of the Gaussian-kernel "
                          "MMD^2 of bond lengths vs the reference (QM9, JODO / NExT-Mol)"),
    MetricSpec("bond_angle_mmd", "molecules3d:bond_angle_mmd", "molecules", inputs="set_vs_reference",
               higher_is_better=False,
               options=MMD_OPTIONS,
               definition="mean over the top-K reference angle types (element triple, centre in the middle) of the "
                          "Gaussian-kernel MMD^2 of bond angles in degrees"),
    MetricSpec("dihedral_mmd", "molecules3d:dihedral_mmd", "molecules", inputs="set_vs_reference",
               higher_is_better=False,
               options=DIHEDRAL_MMD_OPTIONS,
               definition="mean over the top-K reference dihedral types (4-element bonded path) of the "
                          "Gaussian-kernel MMD^2 of signed dihedrals in degrees"),
    # text.py
    MetricSpec("bleu2", "text:bleu2", "text", unit="fraction",
               options=TEXT_OPTIONS,
               definition="corpus BLEU with 1-2-gram weights (0.5, 0.5), nltk"),
    MetricSpec("bleu4", "text:bleu4", "text", unit="fraction",
               options=TEXT_OPTIONS,
               definition="corpus BLEU with 1-4-gram weights (0.25 each), nltk"),
    MetricSpec("rouge1", "text:rouge1", "text", unit="fraction",
               options=ROUGE_OPTIONS,
               definition="mean ROUGE-1 F-measure (rouge-score)"),
    MetricSpec("rouge2", "text:rouge2", "text", unit="fraction",
               options=ROUGE_OPTIONS,
               definition="mean ROUGE-2 F-measure (rouge-score)"),
    MetricSpec("rouge_l", "text:rouge_l", "text", unit="fraction",
               options=ROUGE_OPTIONS,
               definition="mean ROUGE-L (longest common subsequence) F-measure (rouge-score)"),
    MetricSpec("meteor", "text:meteor", "text", unit="fraction",
               options=TEXT_OPTIONS,
               definition="mean METEOR (nltk; exact, Porter-stem and WordNet-synonym matches; needs local WordNet "
                          "3.0)"),
    # scalar.py
    MetricSpec("rmse", "scalar:rmse", "scalar", reference="first", higher_is_better=False,
               options=NUMERIC_OPTIONS,
               definition="root mean squared error over parseable numeric predictions (unparseable counted, not "
                          "scored)"),
    MetricSpec("mae", "scalar:mae", "scalar", reference="first", higher_is_better=False,
               options=NUMERIC_OPTIONS,
               definition="mean absolute error over parseable numeric predictions (unparseable counted, not scored)"),
    MetricSpec("pearson", "scalar:pearson", "scalar", reference="first",
               options=NUMERIC_OPTIONS,
               definition="Pearson correlation between parseable predictions and references (scipy)"),
    MetricSpec("spearman", "scalar:spearman", "scalar", reference="first",
               options=NUMERIC_OPTIONS,
               definition="Spearman rank correlation between parseable predictions and references (scipy)"),
    MetricSpec("accuracy", "scalar:accuracy", "scalar", unit="fraction",
               options=ACCURACY_OPTIONS,
               definition="fraction of predictions equal to the reference label (whitespace/case/final '.' "
                          "normalised); empty = wrong"),
    MetricSpec("set_precision", "scalar:set_precision", "scalar", reference="first", unit="fraction",
               options=SET_OPTIONS,
               definition="mean per-sample precision of predicted label set vs reference set (OPI EC/GO/keywords)"),
    MetricSpec("set_recall", "scalar:set_recall", "scalar", reference="first", unit="fraction",
               options=SET_OPTIONS,
               definition="mean per-sample recall of predicted label set vs reference set"),
    MetricSpec("set_f1", "scalar:set_f1", "scalar", reference="first", unit="fraction",
               options=SET_OPTIONS,
               definition="mean per-sample F1 of predicted label set vs reference set (empty prediction = 0)"),
    # proteins.py
    MetricSpec("aar", "proteins:aar", "proteins", reference="first", unit="fraction",
               options=AAR_OPTIONS,
               definition="amino-acid recovery: per-protein fraction of positions equal to the native residue, "
                          "averaged; length mismatch or unparsable = invalid"),
    MetricSpec("tm_score", "proteins:tm_score_metric", "proteins", reference="first",
               options=ALIGN,
               definition="TM-score of predicted vs reference CA trace, normalised by reference length (TM-align via "
                          "tmtools, or residue-matched)"),
    MetricSpec("rmsd", "proteins:rmsd", "proteins", reference="first", higher_is_better=False,
               definition="Kabsch-superposed CA RMSD (Angstrom) of length-matched predictions; mismatched length = "
                          "invalid"),
    MetricSpec("sctm", "proteins:sctm", "proteins", reference="first",
               definition="self-consistency TM-score: TM-score of the folded generated sequence vs the "
                          "reference/generated backbone (needs an injected folding model)"),
    MetricSpec("scrmsd", "proteins:scrmsd", "proteins", reference="first", higher_is_better=False,
               definition="self-consistency RMSD: CA RMSD of the folded generated sequence vs the backbone (needs an "
                          "injected folding model)"),
    MetricSpec("plddt", "proteins:plddt", "proteins", inputs="set",
               definition="mean pLDDT of the folded generated sequences (needs an injected folding model)"),
    MetricSpec("ppl", "proteins:ppl", "proteins", inputs="set", higher_is_better=False,
               definition="mean ProtGPT2 perplexity of the generated sequences (needs an injected language model)"),
    # protein_design.py
    MetricSpec("rep", "protein_design:rep", "proteins", inputs="set", unit="fraction", higher_is_better=False,
               options=REP_OPTIONS,
               definition="sequence repetition of the designs, mean over designs (fraction; ProDVa/PDFBench Repeat "
                          "by default, seq-rep-n with method=rep_n)"),
    MetricSpec("seq_diversity_pct", "protein_design:seq_diversity_pct", "proteins", unit="percent",
               options=SEQ_DIVERSITY_PCT_OPTIONS,
               definition="100 x mean pairwise (1 - local-alignment identity) among the designs of a prompt (lines "
                          "with equal references), averaged over prompts (PDFBench diversity; no significant hit = "
                          "1)"),
    MetricSpec("plddt_gt70_pct", "protein_design:plddt_gt70_pct", "proteins", inputs="set", unit="percent",
               definition="% of designs whose mean pLDDT is above 70 (ESMFold via the injected folding model; "
                          "unparsable designs count as below)"),
    MetricSpec("pae", "protein_design:pae", "proteins", inputs="set", higher_is_better=False,
               definition="mean predicted aligned error (Angstrom; per design the mean of the PAE matrix) of the "
                          "folded designs (needs a folding model that returns PAE)"),
    MetricSpec("pae_lt10_pct", "protein_design:pae_lt10_pct", "proteins", inputs="set", unit="percent",
               definition="% of designs whose mean PAE is below 10 Angstrom (needs a folding model that returns PAE; "
                          "unparsable designs count as not below)"),
    MetricSpec("protrek", "protein_design:protrek", "proteins",
               options={**DESIGN_TEXT, **MAX_LENGTH},
               definition="ProTrek score: 100 x mean cosine between the ProTrek embeddings of each design and its "
                          "function text (needs injected ProTrek)"),
    MetricSpec("retrieval_accuracy_pct", "protein_design:retrieval_accuracy_pct", "proteins", unit="percent",
               options=RETRIEVAL_ACCURACY_PCT_OPTIONS,
               definition="% of designs whose ProTrek similarity to their own function text is at least that of "
                          "every negative (other designs of the set) among n_candidates (needs injected ProTrek)"),
    MetricSpec("keyword_recovery_pct", "protein_design:keyword_recovery_pct", "proteins", unit="percent",
               definition="100 x mean fraction of the reference's InterPro keywords (InterProScan of the native "
                          "sequence, or a given list) found in the design's InterProScan annotations (needs injected "
                          "InterProScan)"),
    MetricSpec("evollama_pct", "protein_design:evollama_pct", "proteins", unit="percent",
               options=DESIGN_TEXT,
               definition="EvoLlama score: 100 x mean cosine between the text embeddings of EvoLlama's description "
                          "of each design and its instruction (needs injected EvoLlama + PubMedBERT)"),
)

METRICS: dict[str, MetricSpec] = {spec.name: spec for spec in METRIC_TABLE}
if len(METRICS) != len(METRIC_TABLE):
    raise RuntimeError("a metric name appears twice in METRIC_TABLE")


def close_matches(name: str, valid) -> list[str]:
    """``valid`` sorted with the names closest to ``name`` first (for "unknown X; valid: ..." messages)."""
    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=5, cutoff=0.6)
    return close + [v for v in valid if v not in close]


def get_metric(name: str) -> MetricSpec:
    if name not in METRICS:
        hint = difflib.get_close_matches(name, list(METRICS), n=3, cutoff=0.6)
        near = f" (did you mean {', '.join(hint)}?)" if hint else ""
        raise EvalInputError(f"unknown metric {name!r}{near}; `biomatrix eval metric --list` shows the "
                             f"{len(METRICS)} metrics")
    return METRICS[name]


def list_metrics() -> list[MetricSpec]:
    return sorted(METRICS.values(), key=lambda s: (s.family, s.name))


def check_inputs(spec: MetricSpec, predictions: list, references: list | None, train: list | None) -> None:
    """The inputs ``spec`` needs are there, and none it does not use."""
    name = spec.name
    if spec.inputs in ("paired", "set_vs_reference") and references is None:
        raise EvalInputError(f"metric {name}: needs references (--ref)")
    if spec.inputs == "paired" and len(predictions) != len(references):
        raise EvalInputError(
            f"metric {name}: {len(predictions)} predictions but {len(references)} references; "
            "paired metrics need one reference per prediction (same line count)"
        )
    if spec.inputs == "set" and references is not None:
        raise EvalInputError(f"metric {name}: scores a generated set alone; references are not used")
    if spec.needs_train and train is None:
        raise EvalInputError(f"metric {name}: needs a training set (--train)")


def compute(
    name: str,
    predictions: list,
    references: list | None = None,
    train: list | None = None,
    **options: Any,
) -> MetricResult:
    """Score ``predictions`` with metric ``name``; checks the inputs the metric needs."""
    spec = get_metric(name)
    opts = spec.parse_options(options)
    check_inputs(spec, predictions, references, train)
    kwargs: dict[str, Any] = dict(opts)
    if spec.inputs != "set":
        kwargs["references"] = references
    if spec.needs_train:
        kwargs["train"] = train
    result = spec.func(predictions, **kwargs)
    result.metric = name
    return result
