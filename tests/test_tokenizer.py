"""The rebuilt Qwen3 tokenizer is the real one: llama.cpp's Qwen2 vectors and Qwen3's special-token ids."""

import json

from biomatrix_plugin.model.tiny_base import QWEN3_FIRST_SPECIAL_ID, QWEN3_SPECIAL_TOKENS, QWEN3_VOCAB_ROWS
from conftest import shared_path


def test_reproduces_all_qwen2_vectors(qwen3_tokenizer):
    cases = json.loads(shared_path("reference", "qwen2_tokenizer_vectors", "qwen2_vectors.json").read_text())["cases"]
    assert len(cases) == 42
    mismatches = [c["text"] for c in cases if qwen3_tokenizer.encode(c["text"], add_special_tokens=False) != c["ids"]]
    assert mismatches == []


def test_special_tokens_at_qwen3_ids(qwen3_tokenizer):
    assert len(qwen3_tokenizer) == QWEN3_FIRST_SPECIAL_ID + len(QWEN3_SPECIAL_TOKENS) == 151_669
    for offset, (token, _) in enumerate(QWEN3_SPECIAL_TOKENS):
        assert qwen3_tokenizer.convert_tokens_to_ids(token) == QWEN3_FIRST_SPECIAL_ID + offset
    assert qwen3_tokenizer.eos_token == "<|endoftext|>"


def test_tiny_base_reloads_with_padded_embedding(tiny_base_dir):
    from transformers import AutoConfig, AutoTokenizer

    cfg = AutoConfig.from_pretrained(tiny_base_dir)
    assert cfg.vocab_size == QWEN3_VOCAB_ROWS
    tok = AutoTokenizer.from_pretrained(tiny_base_dir)
    assert tok.encode("Hello world", add_special_tokens=False) == [9707, 1879]
