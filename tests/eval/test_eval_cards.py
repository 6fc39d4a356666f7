"""The declarative side stays in step with the code: metric cards and the paper's numbers."""

from __future__ import annotations

from pathlib import Path

import yaml

from biomatrix_plugin.eval import list_metrics
from biomatrix_plugin.eval.registry import METRICS
from biomatrix_plugin.eval.report import NO_PRODUCER, load_paper

CARDS = Path(__file__).resolve().parents[2] / "biomatrix_plugin" / "eval" / "cards"


def test_every_registered_metric_has_a_card_and_back():
    cards = yaml.safe_load((CARDS / "metrics.yaml").read_text())["metrics"]
    registered = {s.name: s for s in list_metrics()}
    implemented = {name for name, card in cards.items() if card["status"] == "implemented"}
    assert implemented == set(registered)
    for name, spec in registered.items():
        assert cards[name]["family"] == spec.family, name
        assert cards[name]["inputs"] == spec.inputs, name


def _unit_of_paper_name(metric: str) -> str | None:
    """The unit of the metric that produces a paper row (itself, or the one whose report_as names it)."""
    if metric in METRICS:
        return METRICS[metric].unit
    producers = {s.unit for s in METRICS.values() if metric in s.report_as}
    return producers.pop() if len(producers) == 1 else None


def test_paper_numbers_are_well_formed():
    paper = load_paper(CARDS / "paper_results.yaml")
    assert len(paper) > 250
    for (task, variant, metric), ref in paper.items():
        assert ref["unit"] in ("percent", "fraction", "raw"), task
        unit = _unit_of_paper_name(metric)
        # every paper name is produced by a metric (or listed as having none), so no row is silently unmatched
        assert unit is not None or ref["not_computed"] or metric in NO_PRODUCER or metric in (
            "validity_loose", "validity_strict"), metric
        if unit == "fraction":
            limit = 100 if ref["unit"] == "percent" else 1
            assert 0 <= ref["value"] <= limit, (task, variant, metric)
        elif unit == "percent":
            assert 0 <= ref["value"] <= 100, (task, variant, metric)
    # spot checks against the report's text (§6.1.4, §7.2.2, §8.1.1)
    assert paper[("smolinstruct_molgen", "smiles", "inchi_match")]["value"] == 65.07
    assert paper[("pdb_folding", "default", "tm_score")]["value"] == 0.84
    assert paper[("peer_bindingdb_affinity", "smiles", "rmse")]["value"] == 1.030
