"""Every template of every task renders in every variant, round-trips through unwrap and tokenizes with the
real extended tokenizer (control tokens kept whole, decode gives the text back); prompts are drawn
uniformly and deterministically per record."""

from __future__ import annotations

import pytest
import selfies as sf
from rdkit import Chem

from biomatrix_plugin.modalities.serialization import unwrap
from biomatrix_plugin.tasks.checks import check_prompts, prompt_choice_counts, sample_rows
from biomatrix_plugin.tasks.registry import TaskRegistry

TASKS = TaskRegistry().all()


# entity kind -> the modality of its wrapped segment (None: plain text); "molecule" is the variant's notation
SEGMENT = {"protein": "protein", "protein3d": "prot3d", "mol3d": "mol3d"}


def _expected_segments(task, variant: str) -> list[str]:
    kinds = list((task["input"].get("fields") or {}).values()) or [task["input"]["kind"]]
    kinds.append(task["response"]["kind"])
    return sorted(variant if k == "molecule" else SEGMENT[k] for k in kinds if k == "molecule" or k in SEGMENT)


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_every_template_renders_and_round_trips(task):
    n = 0
    for variant, index, row in sample_rows(task):
        text = "\n".join(p for p in (row["instruction"], row["input"], row["output"]) if p)
        parsed = unwrap(text, check_vocabulary=False)
        assert not parsed.errors
        assert sorted(seg.modality for seg in parsed.segments) == _expected_segments(task, variant)
        for seg in parsed.segments:
            if seg.modality in ("smiles", "selfies"):
                smiles = seg.value if variant == "smiles" else sf.decoder(seg.value)
                assert Chem.MolToInchi(Chem.MolFromSmiles(smiles)) == Chem.MolToInchi(
                    Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O"))
        if variant == "selfies":
            assert "SMILES" not in row["instruction"]
        n += 1
    assert n == len(task.prompts) * len(task.variants)


@pytest.mark.slow  # builds the tiny extended model (~20 s idle, over a minute on the loaded box)
def test_prompts_tokenize_with_the_extended_tokenizer(extended_tokenizer):
    assert check_prompts(TASKS, extended_tokenizer) == []


def test_a_tokenizer_without_the_modality_tokens_is_refused(qwen3_tokenizer):
    problems = check_prompts(TASKS[:1], qwen3_tokenizer)
    assert len(problems) == 1 and "pass the extended tokenizer" in problems[0]


def test_templates_are_drawn_uniformly_and_deterministically():
    task = TaskRegistry().get("smolinstruct_s2i")
    counts = prompt_choice_counts(task, 8000)
    assert counts == prompt_choice_counts(task, 8000)
    assert min(counts) > 850 and max(counts) < 1150  # 1,000 expected each; ±15% is > 4 sigma
