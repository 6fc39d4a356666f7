"""The declarative side stays in step with the code: metric cards and the paper's numbers."""

from __future__ import annotations

from pathlib import Path

import yaml

from biomatrix_plugin.eval import list_metrics
from biomatrix_plugin.eval.report import FRACTION_METRICS, load_paper

EVAL_DIR = Path(__file__).resolve().parents[2] / "eval"


def test_every_registered_metric_has_a_card_and_back():
    cards = yaml.safe_load((EVAL_DIR / "metrics.yaml").read_text())["metrics"]
    registered = {s.name: s for s in list_metrics()}
    implemented = {name for name, card in cards.items() if card["status"] == "implemented"}
    assert implemented == set(registered)
    for name, spec in registered.items():
        assert cards[name]["family"] == spec.family, name
        assert cards[name]["inputs"] == spec.inputs, name


def test_paper_numbers_are_well_formed():
    paper = load_paper(EVAL_DIR / "paper_results.yaml")
    assert len(paper) > 250
    for (task, variant, metric), ref in paper.items():
        assert ref["unit"] in ("percent", "fraction", "raw"), task
        if metric in FRACTION_METRICS:
            limit = 100 if ref["unit"] == "percent" else 1
            assert 0 <= ref["value"] <= limit, (task, variant, metric)
    # spot checks against the report's text (§6.1.4, §7.2.2, §8.1.1)
    assert paper[("smolinstruct_molgen", "smiles", "inchi_match")]["value"] == 65.07
    assert paper[("pdb_folding", "default", "tm_score")]["value"] == 0.84
    assert paper[("peer_bindingdb_affinity", "default", "rmse")]["value"] == 1.030
