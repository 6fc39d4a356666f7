"""Text metrics on hand-computed cases and nltk's documented METEOR example."""

from __future__ import annotations

import math

import pytest

from biomatrix_plugin.eval import EvalInputError, compute
from biomatrix_plugin.eval import text as text_metrics

HYP = "the cat sat on the mat"
REF = "the cat is on the mat"


def test_bleu2_hand_computed():
    # unigram precision 5/6 (the x2, cat, on, mat), bigram precision 3/5 (the-cat, on-the, the-mat),
    # equal lengths so no brevity penalty: BLEU-2 = sqrt(5/6 * 3/5)
    r = compute("bleu2", [HYP], [REF])
    assert r.value == pytest.approx(math.sqrt(5 / 6 * 3 / 5))
    assert compute("bleu4", [REF], [REF]).value == pytest.approx(1.0)


def test_rouge_hand_computed():
    assert compute("rouge1", [HYP], [REF]).value == pytest.approx(5 / 6)
    assert compute("rouge2", [HYP], [REF]).value == pytest.approx(3 / 5)
    # LCS "the cat on the mat" = 5 tokens of 6 on both sides
    assert compute("rouge_l", [HYP], [REF]).value == pytest.approx(5 / 6)
    # "binds" vs "binding": equal only after Porter stemming
    assert compute("rouge1", ["protein binds zinc"], ["protein binding zinc"]).value == pytest.approx(2 / 3)
    assert compute("rouge1", ["protein binds zinc"], ["protein binding zinc"], stemmer="true").value == 1.0


def test_empty_predictions_counted_skip_or_zero():
    r = compute("rouge_l", [REF, ""], [REF, REF])
    assert r.value == pytest.approx(1.0) and r.n_invalid == 1 and r.n_items == 2
    r = compute("rouge_l", [REF, ""], [REF, REF], empty="zero")
    assert r.value == pytest.approx(0.5)
    r = compute("bleu2", ["", ""], [REF, REF])
    assert r.status == "not_computed" and r.n_invalid == 2


def test_reference_must_be_text():
    with pytest.raises(EvalInputError, match="reference item 1"):
        compute("rouge_l", [REF], [3.5])


def _wordnet_or_skip():
    try:
        return text_metrics.load_wordnet()
    except text_metrics.WordNetMissing as exc:
        pytest.skip(f"METEOR value test needs local WordNet 3.0: {exc}")


def test_meteor_matches_nltk_documented_example():
    _wordnet_or_skip()
    hyp = "It is a guide to action which ensures that the military always obeys the commands of the party"
    ref = "It is a guide to action that ensures that the military will forever heed Party commands"
    # nltk's meteor_score docstring: round(single_meteor_score(reference1, hypothesis1), 4) == 0.6944
    r = compute("meteor", [hyp], [ref], tokenizer="whitespace")
    assert round(r.value, 4) == 0.6944
    assert compute("meteor", [REF], [REF]).value > 0.99


def test_meteor_uses_wordnet_synonyms():
    _wordnet_or_skip()
    # car.n.01 lists "auto": a full synonym match gives one chunk of 5 matches, 0.5*(1/5)^3 penalty
    with_synonym = compute("meteor", ["the red auto stopped here"], ["the red car stopped here"]).value
    unrelated = compute("meteor", ["the red tree stopped here"], ["the red car stopped here"]).value
    assert with_synonym == pytest.approx(1 - 0.5 * (1 / 5) ** 3)
    assert unrelated < 0.8


def test_meteor_without_wordnet_is_not_computed(monkeypatch):
    import nltk

    def missing(*_a, **_k):
        raise LookupError("no nltk data")

    monkeypatch.setattr(nltk.data, "find", missing)
    monkeypatch.setattr(text_metrics, "wordnet_candidate_dirs", lambda: [])
    text_metrics.load_wordnet.cache_clear()
    try:
        r = compute("meteor", [HYP], [REF])
    finally:
        text_metrics.load_wordnet.cache_clear()
    assert r.status == "not_computed" and r.value is None
    assert "wordnet-base" in r.reason and r.n_items == 1


def test_unknown_tokenizer_is_an_error():
    with pytest.raises(EvalInputError, match="tokenizer"):
        compute("bleu2", [HYP], [REF], tokenizer="spacy")
