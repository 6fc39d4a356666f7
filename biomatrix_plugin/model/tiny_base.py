"""The embedded default base model: the real Qwen3 tokenizer with a tiny random-weight Qwen3.

No model hub is reachable in development or CI, but the PyPI package ``dashscope`` ships Qwen's byte-level
BPE ranks (``dashscope/resources/qwen.tiktoken``, 151,643 tokens). Rebuilt with Qwen2's pre-tokenizer regex
and an NFC normalizer it tokenizes exactly like Qwen2/Qwen3; Qwen3's 26 special tokens follow at 151643.
The model keeps Qwen3's padded 151,936-row embedding so that vocabulary extension meets the same layout as
on the real 4B checkpoint (new tokens land inside the padding first).
"""

from __future__ import annotations

from pathlib import Path

QWEN3_VOCAB_ROWS = 151_936  # embedding rows of every Qwen3 checkpoint (padded past the 151,669 tokens)
QWEN3_FIRST_SPECIAL_ID = 151_643

# (token, special) in id order from 151643, as in Qwen3's tokenizer_config.json. "special" decides whether
# decode(skip_special_tokens=True) drops it; Qwen3 keeps tool/think/fim markers visible.
QWEN3_SPECIAL_TOKENS: list[tuple[str, bool]] = [
    ("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True),
    ("<|object_ref_start|>", True), ("<|object_ref_end|>", True), ("<|box_start|>", True),
    ("<|box_end|>", True), ("<|quad_start|>", True), ("<|quad_end|>", True),
    ("<|vision_start|>", True), ("<|vision_end|>", True), ("<|vision_pad|>", True),
    ("<|image_pad|>", True), ("<|video_pad|>", True), ("<tool_call>", False), ("</tool_call>", False),
    ("<|fim_prefix|>", False), ("<|fim_middle|>", False), ("<|fim_suffix|>", False), ("<|fim_pad|>", False),
    ("<|repo_name|>", False), ("<|file_sep|>", False), ("<tool_response>", False),
    ("</tool_response>", False), ("<think>", False), ("</think>", False),
]

# A plain ChatML template (what Qwen3 uses without the thinking block), so HF generation and LLaMA-Factory's
# `qwen3_nothink` template agree on the prompt format.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def qwen_tiktoken_path() -> Path:
    try:
        import dashscope
    except ImportError as exc:  # pragma: no cover - dashscope is a test/demo dependency
        raise RuntimeError(
            "the Qwen BPE ranks come from the PyPI package 'dashscope'; install it: pip install dashscope"
        ) from exc
    path = Path(dashscope.__file__).parent / "resources" / "qwen.tiktoken"
    if not path.exists():
        raise RuntimeError(f"{path} not found; this dashscope release does not ship qwen.tiktoken")
    return path


def build_qwen3_tokenizer(tiktoken_file: str | Path | None = None):
    """Qwen3's tokenizer (151,669 tokens) rebuilt from the tiktoken BPE ranks."""
    from tokenizers import AddedToken
    from transformers.convert_slow_tokenizer import TikTokenConverter
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX, Qwen2Tokenizer

    path = str(tiktoken_file or qwen_tiktoken_path())
    vocab, merges = TikTokenConverter(vocab_file=path, pattern=PRETOKENIZE_REGEX).extract_vocab_merges_from_model(path)
    if len(vocab) != QWEN3_FIRST_SPECIAL_ID:
        raise RuntimeError(f"{path}: expected {QWEN3_FIRST_SPECIAL_ID} BPE tokens, found {len(vocab)}")
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    tok.add_tokens([AddedToken(t, special=s, normalized=False) for t, s in QWEN3_SPECIAL_TOKENS[1:]])
    for i, (t, _) in enumerate(QWEN3_SPECIAL_TOKENS):
        got = tok.convert_tokens_to_ids(t)
        if got != QWEN3_FIRST_SPECIAL_ID + i:
            raise RuntimeError(f"special token {t} got id {got}, expected {QWEN3_FIRST_SPECIAL_ID + i}")
    tok.chat_template = CHATML_TEMPLATE
    tok.model_max_length = 32768
    return tok


def tiny_qwen3_config(num_layers: int = 2, hidden_size: int = 64, tie_word_embeddings: bool = True):
    from transformers import Qwen3Config

    return Qwen3Config(
        vocab_size=QWEN3_VOCAB_ROWS,
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden_size // 4,
        max_position_embeddings=4096,
        tie_word_embeddings=tie_word_embeddings,
        bos_token_id=QWEN3_FIRST_SPECIAL_ID,
        eos_token_id=QWEN3_FIRST_SPECIAL_ID,
        pad_token_id=QWEN3_FIRST_SPECIAL_ID,
    )


def build_tiny_base(
    out_dir: str | Path,
    *,
    num_layers: int = 2,
    hidden_size: int = 64,
    tie_word_embeddings: bool = True,
    seed: int = 0,
    tokenizer=None,
) -> Path:
    """Write tokenizer + random-weight tiny Qwen3 to ``out_dir`` (an ordinary HF directory)."""
    import torch
    from transformers import Qwen3ForCausalLM

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = tokenizer if tokenizer is not None else build_qwen3_tokenizer()
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(tiny_qwen3_config(num_layers, hidden_size, tie_word_embeddings))
    model.generation_config.eos_token_id = QWEN3_FIRST_SPECIAL_ID
    model.generation_config.pad_token_id = QWEN3_FIRST_SPECIAL_ID
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir
