import random

import pytest

from biomatrix_plugin.modalities.serialization import SerializationError, unwrap
from biomatrix_plugin.protein3d.instances import (
    SEQUENCE_LABEL,
    STRUCTURE_LABEL,
    CompositionConfig,
    composite_instance,
    three_view_instances,
)

SEQ = "MKTAYIAKQR"
CODES = [4012, 153, 0, 4095, 7, 7, 300, 1, 2, 3]


def test_three_views_content_and_order():
    rows = three_view_instances(SEQ, CODES, rng=0)
    assert len(rows) == 3 and all(set(r) == {"text"} for r in rows)
    one_d, three_d, joint = (unwrap(r["text"]) for r in rows)
    assert one_d.values("protein") == [SEQ] and one_d.values("prot3d") == []
    assert three_d.values("prot3d") == [CODES] and three_d.values("protein") == []
    assert joint.values("protein") == [SEQ] and joint.values("prot3d") == [CODES]
    assert not (one_d.errors or three_d.errors or joint.errors)
    assert rows[0]["text"] == "<|prot_aa_start|>" + "".join(f"<A {c}>" for c in SEQ) + "<|prot_aa_end|>"


def test_joint_order_is_random_but_seeded():
    def first_view(seed):
        text = three_view_instances(SEQ, CODES, rng=seed)[2]["text"]
        return "protein" if text.startswith("<|prot_aa_start|>") else "prot3d"

    orders = [first_view(seed) for seed in range(40)]
    assert {"protein", "prot3d"} == set(orders)  # both orders occur
    assert orders == [first_view(seed) for seed in range(40)]  # and the seed fixes them
    share = orders.count("protein") / len(orders)
    assert 0.2 < share < 0.8


def test_shared_rng_advances():
    rng = random.Random(3)
    a = [three_view_instances(SEQ, CODES, rng)[2]["text"] for _ in range(20)]
    rng = random.Random(3)
    b = [three_view_instances(SEQ, CODES, rng)[2]["text"] for _ in range(20)]
    assert a == b and len(set(a)) == 2


def test_one_d_only_and_three_d_only_sources():
    rows = three_view_instances(SEQ, None, rng=1)
    assert rows == [{"text": three_view_instances(SEQ, CODES, rng=1)[0]["text"]}]
    rows = three_view_instances(None, CODES, rng=1)
    assert len(rows) == 1 and unwrap(rows[0]["text"]).values("prot3d") == [CODES]


def test_composite_instance_with_annotations():
    annotations = {"Protein name": "Lysozyme C", "Organism": "Gallus gallus",
                   "Keywords": ["Antimicrobial", "Hydrolase", "Glycosidase"], "Empty": ""}
    rows = three_view_instances(SEQ, CODES, rng=5, annotations=annotations)
    assert len(rows) == 4
    text = rows[3]["text"]
    parts = text.split("\n")
    labels = [p.split(": ", 1)[0] for p in parts]
    assert "Empty" not in labels
    assert set(labels) <= {SEQUENCE_LABEL, STRUCTURE_LABEL, "Protein name", "Organism", "Keywords"}
    assert set(labels) & {SEQUENCE_LABEL, STRUCTURE_LABEL}
    assert set(labels) & {"Protein name", "Organism", "Keywords"}
    parsed = unwrap(text)
    assert not parsed.errors


def test_stochastic_composition_frequencies_and_permutations():
    annotations = {"A": "a", "B": "b", "C": ["c1", "c2", "c3"]}
    config = CompositionConfig(p_sequence=0.5, p_structure=0.5, p_annotation=0.5)
    rng = random.Random(11)
    kept_a = 0
    orders = set()
    keyword_orders = set()
    n = 600
    for _ in range(n):
        text = composite_instance(SEQ, CODES, annotations, rng, config)["text"]
        labels = tuple(p.split(": ", 1)[0] for p in text.split("\n"))
        kept_a += "A" in labels
        orders.add(labels)
        for p in text.split("\n"):
            if p.startswith("C: "):
                keyword_orders.add(p)
    # P(A kept) = 0.5 plus the forced pick when no field survives (1/8 of draws, 1/3 of those)
    expected = 0.5 + 0.125 / 3
    assert abs(kept_a / n - expected) < 0.07
    assert len(keyword_orders) == 6  # all permutations of three entries appear
    assert len(orders) > 20


def test_bad_inputs_raise_with_reason():
    with pytest.raises(SerializationError, match="must match"):
        three_view_instances(SEQ, CODES[:-1], rng=0)
    with pytest.raises(SerializationError, match="outside 0-4095"):
        three_view_instances(SEQ, CODES[:-1] + [4096], rng=0)
    with pytest.raises(SerializationError, match="invalid character"):
        three_view_instances("MK1", [1, 2, 3], rng=0)
    with pytest.raises(SerializationError, match="neither"):
        three_view_instances(None, None, rng=0)
