"""ProDVa-protocol design metrics (tech report Tables 23-24): sequence arithmetic checked by hand, model
metrics through small stand-in models injected with the documented setters, whose answers are known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from biomatrix_plugin.eval import EvalInputError, compute, list_metrics, protein_design, proteins

DESIGN_METRICS = {"rep", "seq_diversity_pct", "plddt_gt70_pct", "pae", "pae_lt10_pct", "protrek",
                  "retrieval_accuracy_pct", "keyword_recovery_pct", "evollama_pct"}


# ------------------------------------------------------------------ Rep

def literal_repeat(seq: str) -> float:
    """PDFBench's Repeat spelled out loop by loop, as an independent check of the vectorised version."""
    n = len(seq)
    regions = []
    for w in range(1, min(20, n // 2) + 1):
        for i in range(n - w + 1):
            copies, j = 1, i + w
            while j <= n - w and seq[j:j + w] == seq[i:i + w]:
                copies, j = copies + 1, j + w
            if copies >= 3:
                regions.append((i, i + w * copies))
    covered = set()
    for start, end in regions:
        covered.update(range(start, end))
    return len(covered) / n if n else 0.0


def test_rep_hand_computed():
    # MKAAAL: AAA is one unit of length 1 three times -> 3 of 6 residues; GSGSGSMK: GS x3 -> 6 of 8;
    # ACDEFGHIK: no tandem repeat; AAAA: all 4
    cases = {"MKAAAL": 0.5, "GSGSGSMK": 0.75, "ACDEFGHIK": 0.0, "AAAA": 1.0, "MKAAMKAAMKAAW": 12 / 13}
    for seq, expected in cases.items():
        assert protein_design.repeat_fraction(seq) == pytest.approx(expected), seq
    r = compute("rep", ["MKAAAL", "GSGSGSMK", "ACDEFGHIK", "AAAA", "", "12"])
    assert r.value == pytest.approx((0.5 + 0.75 + 0 + 1) / 4)
    assert (r.n_items, r.n_invalid) == (6, 2)


def test_rep_matches_the_literal_algorithm_on_random_low_complexity_sequences():
    rng = np.random.default_rng(3)
    for length in (1, 2, 5, 17, 40, 90):
        for _ in range(15):
            seq = "".join(rng.choice(list("AGS"), size=length))
            assert protein_design.repeat_fraction(seq) == pytest.approx(literal_repeat(seq)), seq


def test_rep_n_is_welleck_seq_rep():
    # GSGSGS: 2-grams GS SG GS SG GS -> 2 distinct of 5 -> 1 - 2/5
    assert compute("rep", ["GSGSGS"], method="rep_n", n=2).value == pytest.approx(0.6)
    assert compute("rep", ["ACDE"], method="rep_n", n=2).value == 0.0
    assert compute("rep", ["AAA"], method="rep_n", n=5).value == 0.0  # shorter than n
    with pytest.raises(EvalInputError, match="n=0"):
        compute("rep", ["AAA"], method="rep_n", n=0)


# ------------------------------------------------------------------ sequence diversity

NATIVE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVK"  # 60 residues


def mutate(seq: str, changes: dict[int, str]) -> str:
    out = list(seq)
    for pos, aa in changes.items():
        assert out[pos] != aa
        out[pos] = aa
    return "".join(out)


def test_local_identity_of_a_two_point_mutant_and_unrelated_sequences():
    mutant = mutate(NATIVE, {20: "W", 40: "W"})
    identity, evalue = protein_design.local_identity(NATIVE, mutant)
    assert identity == pytest.approx(58 / 60) and evalue < 1e-20  # aligned end to end, 2 mismatches
    identity, evalue = protein_design.local_identity("A" * 30, "W" * 30)  # A/W scores -3: no alignment
    assert identity == 0.0 and evalue > 1


def test_seq_diversity_per_prompt_hand_computed():
    mutant = mutate(NATIVE, {20: "W", 40: "W"})
    unrelated = "W" * 30
    preds = [NATIVE, NATIVE,                  # prompt a: identical pair, diversity 0
             NATIVE, mutant,                  # prompt b: 1 - 58/60
             [NATIVE, NATIVE], unrelated,     # prompt c: a list and a line -> pairs 0, 1, 1 -> 2/3
             NATIVE, "12",                    # prompt d: one parsable design, not scored
             "??"]                            # prompt e: nothing parsable
    refs = ["a", "a", "b", "b", "c", "c", "d", "d", "e"]
    r = compute("seq_diversity_pct", preds, refs)
    assert r.value == pytest.approx(100 * (0 + (1 - 58 / 60) + 2 / 3) / 3)
    assert (r.n_items, r.n_invalid) == (9, 2)
    assert r.details["n_unparsable_designs"] == 2 and r.details["n_groups"] == 3
    assert r.details["n_groups_below_two_designs"] == 2


def test_seq_diversity_needs_two_designs_per_prompt_or_group_set():
    mutant = mutate(NATIVE, {20: "W", 40: "W"})
    r = compute("seq_diversity_pct", [NATIVE, mutant], ["p1", "p2"])
    assert r.status == "not_computed" and "group=set" in r.reason
    r = compute("seq_diversity_pct", [NATIVE, mutant], ["p1", "p2"], group="set")
    assert r.value == pytest.approx(100 * (1 - 58 / 60))


def test_seq_diversity_from_the_command_line(tmp_path, capsys):
    from biomatrix_plugin.cli import main

    pred, ref = tmp_path / "designs.txt", tmp_path / "prompts.txt"
    pred.write_text(f"{NATIVE}\n{mutate(NATIVE, {20: 'W', 40: 'W'})}\n")
    ref.write_text("design a kinase\ndesign a kinase\n")
    assert main(["eval", "metric", "seq_diversity_pct", "--pred", str(pred), "--ref", str(ref)]) == 0
    assert json.loads(capsys.readouterr().out)["value"] == pytest.approx(100 * (1 - 58 / 60))


def test_seq_diversity_evalue_gate_drops_chance_alignments():
    rng = np.random.default_rng(0)
    a, b = ("".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), size=200)) for _ in range(2))
    identity, evalue = protein_design.local_identity(a, b)
    assert 0 < identity < 0.5 and evalue > 1e-3  # a chance local alignment of unrelated sequences
    assert compute("seq_diversity_pct", [[a, b]], ["p"]).value == 100.0
    loose = compute("seq_diversity_pct", [[a, b]], ["p"], max_evalue=1e9)
    assert loose.value == pytest.approx(100 * (1 - identity))


# ------------------------------------------------------------------ foldability

class LengthFolder:
    """Stands in for ESMFold: pLDDT = 50 + length; PAE matrix 0 on the diagonal and `pae_off` elsewhere."""

    def __init__(self, pae_off: dict[int, float] | None):
        self.pae_off = pae_off

    def fold(self, sequence: str):
        n = len(sequence)
        coords = np.cumsum(np.full((n, 3), 2.2), axis=0)
        if self.pae_off is None:
            return coords, 50.0 + n
        pae = np.full((n, n), self.pae_off[n])
        np.fill_diagonal(pae, 0.0)
        return coords, 50.0 + n, pae


@pytest.fixture
def folder():
    yield lambda f: proteins.set_structure_predictor(f)
    proteins.set_structure_predictor(None)


def test_foldability_metrics_with_a_stand_in_folder(folder):
    designs = ["A" * 25, "A" * 10, "A" * 21, "bad1"]
    assert compute("plddt_gt70_pct", designs).reason == proteins.NO_PREDICTOR
    # off-diagonal PAE 10 over a 25 x 25 matrix: mean 10 * 24/25 = 9.6; 10 residues: 12 * 9/10 = 10.8;
    # 21 residues: 10.5 * 20/21 = 10.0 (not below 10)
    folder(LengthFolder({25: 10.0, 10: 12.0, 21: 10.5}))
    r = compute("plddt_gt70_pct", designs)
    assert r.value == pytest.approx(100 * 2 / 4)  # 75 and 71 are above 70; the unparsable one counts as below
    assert (r.n_items, r.n_invalid) == (4, 1)
    r = compute("pae", designs)
    assert r.value == pytest.approx((9.6 + 10.8 + 10.0) / 3) and r.n_invalid == 1
    assert compute("pae_lt10_pct", designs).value == pytest.approx(100 * 1 / 4)
    assert compute("plddt", designs).value == pytest.approx((75 + 60 + 71) / 3)


def test_pae_not_computed_when_the_folder_gives_none(folder):
    folder(LengthFolder(None))  # the two-element fold() of the original interface
    for name in ("pae", "pae_lt10_pct"):
        r = compute(name, ["A" * 25])
        assert r.status == "not_computed" and "returns no PAE" in r.reason
    assert compute("plddt_gt70_pct", ["A" * 25]).value == 100.0


def test_pae_may_be_a_number_and_bad_shapes_are_named(folder):
    class Scalar:
        def fold(self, sequence):
            return np.zeros((len(sequence), 3)), 80.0, 4.5

    folder(Scalar())
    assert compute("pae", ["MKV", "MKVL"]).value == 4.5

    class Bad:
        def fold(self, sequence):
            return np.zeros((3, 3)), 80.0, np.zeros((2, 3))

    folder(Bad())
    with pytest.raises(EvalInputError, match=r"PAE of shape \(2, 3\)"):
        compute("pae", ["MKV"])


# ------------------------------------------------------------------ ProTrek score and retrieval accuracy

class TableEmbedder:
    """Stands in for ProTrek: fixed vectors per text and per sequence; records what it was given."""

    def __init__(self, texts: dict[str, list[float]], proteins: dict[str, list[float]]):
        self.texts, self.proteins, self.seen_texts, self.seen_proteins = texts, proteins, [], []

    def embed_texts(self, texts):
        self.seen_texts.extend(texts)
        return np.array([self.texts[t] for t in texts])

    def embed_proteins(self, sequences):
        self.seen_proteins.extend(sequences)
        return np.array([self.proteins[s] for s in sequences])


TEXTS = {"kinase": [1, 0, 0], "protease": [0, 1, 0], "kinase-like protease": [0.8, 0.6, 0]}
DESIGNS = {"MKKK": [1, 0, 0], "MPPP": [0, 0, 1], "MKPK": [0.6, 0.8, 0]}
# cosine(text q, design j), rows kinase / protease / kinase-like protease:
#   [[1, 0, 0.6], [0, 0, 0.8], [0.8, 0, 0.96]]


@pytest.fixture
def protrek():
    model = TableEmbedder(TEXTS, DESIGNS)
    protein_design.set_protein_text_embedder(model)
    yield model
    protein_design.set_protein_text_embedder(None)


def test_protrek_score_is_mean_cosine_times_100(protrek):
    r = compute("protrek", list(DESIGNS), list(TEXTS))
    assert r.value == pytest.approx(100 * (1 + 0 + 0.96) / 3)
    r = compute("protrek", ["MKKK", "??"], ["kinase", "protease"])
    assert r.value == pytest.approx(100.0) and r.n_invalid == 1


def test_retrieval_accuracy_hand_computed(protrek):
    preds, refs = list(DESIGNS), list(TEXTS)
    # both other designs as negatives: kinase 1 >= 0.6 hit; protease 0 < 0.8 miss; 0.96 >= 0.8 hit
    r = compute("retrieval_accuracy_pct", preds, refs, n_candidates=3)
    assert r.value == pytest.approx(100 * 2 / 3)
    # hard, one negative = design of the most similar other text: kinase -> MKPK (0.6): hit;
    # protease -> MKPK (0.8): miss; kinase-like protease -> MKKK (0.8): hit
    assert compute("retrieval_accuracy_pct", preds, refs, n_candidates=2, difficulty="hard").value == \
        pytest.approx(100 * 2 / 3)
    # soft: least similar other text: kinase -> MPPP (0); protease -> MKKK (0, a tie counts as retrieved);
    # kinase-like protease -> MPPP (0)
    assert compute("retrieval_accuracy_pct", preds, refs, n_candidates=2, difficulty="soft").value == 100.0
    r = compute("retrieval_accuracy_pct", preds + ["??"], refs + ["kinase"], n_candidates=3)
    assert r.value == pytest.approx(100 * 2 / 4) and r.n_invalid == 1  # unparsable design is a miss
    r = compute("retrieval_accuracy_pct", preds, refs)  # default 20 candidates
    assert r.status == "not_computed" and "n_candidates=20" in r.reason


def test_retrieval_normal_sampling_is_seeded_and_never_uses_the_design_itself():
    rng = np.random.default_rng(1)
    texts = {f"function {i}": list(rng.normal(size=8)) for i in range(30)}
    designs = {"M" + "A" * (i + 1): list(rng.normal(size=8)) for i in range(30)}
    model = TableEmbedder(texts, designs)
    protein_design.set_protein_text_embedder(model)
    try:
        preds, refs = list(designs), list(texts)
        a = compute("retrieval_accuracy_pct", preds, refs, n_candidates=4, seed=7).value
        assert a == compute("retrieval_accuracy_pct", preds, refs, n_candidates=4, seed=7).value
        # with 29 negatives every other design is used: the count follows from the cosine matrix alone
        t = np.array([texts[x] for x in refs])
        s = np.array([designs[x] for x in preds])
        cos = (t / np.linalg.norm(t, axis=1, keepdims=True)) @ (s / np.linalg.norm(s, axis=1, keepdims=True)).T
        expected = 100 * np.mean([cos[q, q] >= np.delete(cos[q], q).max() for q in range(30)])
        assert compute("retrieval_accuracy_pct", preds, refs, n_candidates=30).value == pytest.approx(expected)
    finally:
        protein_design.set_protein_text_embedder(None)


def test_function_text_extraction_and_truncation(protrek):
    cameo = "Generate a protein sequence for a novel protein that integrates the following function keywords: " \
            "kinase. The designed protein sequence is "
    molinst = "Synthesize a protein sequence with the right fold. 1. kinase The designed protein sequence is "
    assert protein_design.function_text(cameo, "keywords") == "kinase"
    assert protein_design.function_text(molinst, "description") == "1. kinase"
    assert compute("protrek", ["MKKK"], [cameo], text="keywords").value == pytest.approx(100.0)
    protrek.proteins["MK"] = [1, 0, 0]
    compute("protrek", ["MKKK"], ["kinase"], max_length=2)
    assert protrek.seen_proteins[-1] == "MK"


def test_alignment_metrics_without_models_say_why():
    for name in ("protrek", "retrieval_accuracy_pct"):
        assert "ProTrek" in compute(name, ["MKV"], ["kinase"]).reason
    assert "InterProScan" in compute("keyword_recovery_pct", ["MKV"], ["MKV"]).reason
    assert "EvoLlama" in compute("evollama_pct", ["MKV"], ["kinase"]).reason


def test_embedding_shape_errors_are_named(protrek):
    class Flat(TableEmbedder):
        def embed_proteins(self, sequences):
            return np.zeros(3)

    protein_design.set_protein_text_embedder(Flat(TEXTS, DESIGNS))
    with pytest.raises(EvalInputError, match="protein embeddings of shape"):
        compute("protrek", ["MKKK"], ["kinase"])
    with pytest.raises(EvalInputError, match="reference item 1 is not a text"):
        compute("protrek", ["MKKK"], [""])


# ------------------------------------------------------------------ keyword recovery

class TableAnnotator:
    """Stands in for InterProScan: fixed InterPro IDs per sequence."""

    def __init__(self, table):
        self.table, self.calls = table, 0

    def annotate(self, sequences):
        self.calls += 1
        return [self.table.get(s, []) for s in sequences]


def test_keyword_recovery_hand_computed():
    annotator = TableAnnotator({"MNAT": ["IPR001", "IPR002"], "MNBT": ["IPR003"], "MNCT": [],
                                "MDAA": ["IPR001", "IPR005"], "MDBB": [], "MDCC": ["IPR001"], "MDDD": ["IPR009"]})
    protein_design.set_keyword_annotator(annotator)
    try:
        preds = ["MDAA", "MDBB", "MDCC", "MDDD", ""]
        refs = ["MNAT", "MNBT", "MNCT", ["IPR009"], "MNAT"]
        r = compute("keyword_recovery_pct", preds, refs)
        # 1/2 of {001, 002}; 0 of {003}; MNCT has no keyword (left out); 1/1 of the given list; unparsable: 0
        assert r.value == pytest.approx(100 * (0.5 + 0 + 1 + 0) / 4)
        assert (r.n_items, r.n_invalid) == (5, 1)
        assert r.details["n_without_reference_keywords"] == 1
        assert annotator.calls == 1  # one batch for designs and natives
        with pytest.raises(EvalInputError, match="reference item 1"):
            compute("keyword_recovery_pct", ["MDAA"], ["not a protein!"])
    finally:
        protein_design.set_keyword_annotator(None)


# ------------------------------------------------------------------ EvoLlama score

def test_evollama_score_hand_computed():
    class Describer:
        def describe(self, sequences):
            return [{"MKKK": "binds ATP", "MPPP": "cuts peptides"}[s] for s in sequences]

    class Embed:
        vectors = {"binds ATP": [1, 0], "cuts peptides": [0, 1], "a kinase": [3, 4], "a protease": [0, 2]}

        def embed(self, texts):
            return np.array([self.vectors[t] for t in texts])

    protein_design.set_protein_describer(Describer())
    protein_design.set_text_embedder(Embed())
    try:
        # cos([1,0],[3,4]) = 0.6; cos([0,1],[0,2]) = 1
        r = compute("evollama_pct", ["MKKK", "MPPP"], ["a kinase", "a protease"])
        assert r.value == pytest.approx(100 * (0.6 + 1.0) / 2)
    finally:
        protein_design.set_protein_describer(None)
        protein_design.set_text_embedder(None)


# ------------------------------------------------------------------ listing and report

def test_metrics_are_listed_and_reported(tmp_path, capsys):
    from biomatrix_plugin.cli import main

    assert DESIGN_METRICS <= {s.name for s in list_metrics() if s.family == "proteins"}
    assert main(["eval", "metric", "--list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in DESIGN_METRICS)

    pred = tmp_path / "designs.txt"
    pred.write_text("MKAAAL\nGSGSGSMK\n")
    res = tmp_path / "results"
    res.mkdir()
    assert main(["eval", "metric", "rep", "--pred", str(pred), "--out", str(res / "rep.json"),
                 "--task", "prodva_cameo"]) == 0
    assert json.loads((res / "rep.json").read_text())["value"] == pytest.approx(0.625)
    (res / "gt70.json").write_text(json.dumps({"metric": "plddt_gt70_pct", "value": 50.0, "n_items": 4,
                                               "n_invalid": 0, "status": "computed", "task": "prodva_cameo"}))
    capsys.readouterr()
    assert main(["eval", "report", str(res)]) == 0
    md = (res / "report.md").read_text()
    rep_row = next(line for line in md.splitlines() if "| rep ↓ |" in line)
    assert "| 0.625 |" in rep_row and "| 0.07 |" in rep_row  # next to Table 23's 0.07
    gt70 = next(line for line in md.splitlines() if "plddt_gt70_pct" in line)
    assert "| 50.00 |" in gt70 and "43.36" in gt70 and "6.64" in gt70


def test_plddt_on_a_0_to_1_scale_is_refused(folder):
    class FractionFolder:  # returns pLDDT as a fraction, as some wrappers of ESMFold do
        def fold(self, sequence):
            return np.zeros((len(sequence), 3)), 0.85

    folder(FractionFolder())
    for name in ("plddt_gt70_pct", "plddt"):
        with pytest.raises(EvalInputError, match="0-100 scale"):
            compute(name, ["MKV", "MKVL"])
