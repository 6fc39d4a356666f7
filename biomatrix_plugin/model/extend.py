"""Add the BioMatrix vocabulary to a base model with description-based initialization (report §2.4, eq. 2).

    e_t = mean_j E_base[s_j] + eps,   eps ~ N(0, I/d) * noise_scale,   (s_1..s_k) = original_tokenizer(desc(t))

Rows are addressed by the ids the extended tokenizer assigns, never by slicing the tail: Qwen3 pads its
embedding to 151,936 rows for 151,669 tokens, so the first new tokens land inside that padding, and a tail
slice (what LLaMA-Factory 0.9.5's ``desc_init`` does) writes them to the wrong rows. Descriptions are
tokenized with the *original* tokenizer because the extended one would map e.g. the description ``[C]`` of
the token ``[C]`` to the (uninitialized) new token itself.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from biomatrix_plugin.vocab.vocabulary import Vocabulary, load_vocabulary

EXTENSION_REPORT = "biomatrix_extension.json"
# Qwen3 base uses <|endoftext|> as both eos and pad, so LLaMA-Factory's pt collator (labels[input == pad] =
# -100) removes every document separator from the loss. An existing, never-generated special token as pad
# keeps separators trainable without adding a row.
PAD_TOKEN = "<|vision_pad|>"


@dataclass
class ExtensionReport:
    base: str
    n_base_tokens: int
    n_added: int
    n_already_present: int
    first_new_id: int
    last_new_id: int
    rows_before: int
    rows_after: int
    tied_embeddings: bool
    pad_token: str
    seed: int
    noise_scale: float
    vocab_sha256: str


def vocabulary_digest(vocab: Vocabulary) -> str:
    h = hashlib.sha256()
    for tok, desc in vocab.ordered():
        h.update(f"{tok}\t{desc}\n".encode())
    return h.hexdigest()


def add_vocabulary(tokenizer, vocab: Vocabulary) -> tuple[list[str], list[str]]:
    """Add the vocabulary's tokens as non-special added tokens (decode keeps them, so generated
    modality segments survive ``skip_special_tokens=True``). Returns (added, already_present)."""
    from tokenizers import AddedToken

    existing = tokenizer.get_vocab()
    new, present = [], []
    for tok, _ in vocab.ordered():
        (present if tok in existing else new).append(tok)
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False, single_word=False) for t in new])
    return new, present


def description_means(weight, desc_ids: list[list[int]], chunk: int = 4096):
    """Mean of ``weight`` rows for each id list, computed in float32 chunk by chunk (bf16 4B fits)."""
    import torch

    out = torch.empty(len(desc_ids), weight.shape[1], dtype=torch.float32)
    for lo in range(0, len(desc_ids), chunk):
        part = desc_ids[lo : lo + chunk]
        flat = torch.tensor([i for ids in part for i in ids], dtype=torch.long)
        offsets = torch.tensor([0] + [len(ids) for ids in part[:-1]], dtype=torch.long).cumsum(0)
        rows = weight.index_select(0, flat).float()
        out[lo : lo + len(part)] = torch.nn.functional.embedding_bag(
            torch.arange(len(flat)), rows, offsets, mode="mean"
        )
    return out


def extend_model(
    base_dir: str | Path,
    out_dir: str | Path,
    vocab: Vocabulary | None = None,
    *,
    seed: int = 0,
    noise_scale: float = 1.0,
    pad_to_multiple_of: int = 128,
) -> ExtensionReport:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    vocab = vocab if vocab is not None else load_vocabulary()
    base_dir, out_dir = Path(base_dir), Path(out_dir)
    original = AutoTokenizer.from_pretrained(base_dir)
    extended = AutoTokenizer.from_pretrained(base_dir)
    n_base = len(original)
    added, present = add_vocabulary(extended, vocab)
    if not added:
        raise ValueError(f"{base_dir}: every vocabulary token is already present; nothing to extend")
    new_ids = extended.convert_tokens_to_ids(added)
    if vocab.expected_ids:
        wrong = [(t, i, vocab.expected_ids[t]) for t, i in zip(added, new_ids) if vocab.expected_ids.get(t) != i]
        if wrong or present:
            t, got, want = wrong[0] if wrong else (present[0], None, vocab.expected_ids.get(present[0]))
            raise ValueError(
                f"{base_dir}: the imported vocabulary expects fixed ids but {len(wrong) + len(present)} tokens would "
                f"differ (e.g. {t!r}: {got} instead of {want}); use the base tokenizer the release was built on"
            )
    descriptions = vocab.descriptions()
    desc_ids = []
    for tok in added:
        ids = original.encode(descriptions[tok], add_special_tokens=False)
        if not ids:
            raise ValueError(f"token {tok!r}: its description {descriptions[tok]!r} tokenizes to nothing")
        desc_ids.append(ids)

    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype="auto")
    rows_before = model.get_input_embeddings().weight.shape[0]
    needed = max(new_ids) + 1
    if needed > rows_before:
        model.resize_token_embeddings(needed, pad_to_multiple_of=pad_to_multiple_of, mean_resizing=False)
    rows_after = model.get_input_embeddings().weight.shape[0]
    tied = bool(getattr(model.config, "tie_word_embeddings", False)) or (
        model.get_output_embeddings() is not None
        and model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    )

    gen = torch.Generator().manual_seed(seed)
    index = torch.tensor(new_ids, dtype=torch.long)
    targets = [model.get_input_embeddings().weight]
    if not tied and model.get_output_embeddings() is not None:
        targets.append(model.get_output_embeddings().weight)
    with torch.no_grad():
        for weight in targets:
            d = weight.shape[1]
            means = description_means(weight, desc_ids)
            noise = torch.randn(means.shape, generator=gen, dtype=torch.float32) * (noise_scale / math.sqrt(d))
            weight.index_copy_(0, index, (means + noise).to(weight.dtype))

    if extended.pad_token_id is None or extended.pad_token_id == extended.eos_token_id:
        if PAD_TOKEN in extended.get_vocab():
            extended.pad_token = PAD_TOKEN
    model.config.pad_token_id = extended.pad_token_id
    if model.generation_config is not None:
        model.generation_config.pad_token_id = extended.pad_token_id

    out_dir.mkdir(parents=True, exist_ok=True)
    model.config.vocab_size = rows_after
    model.save_pretrained(out_dir)
    extended.save_pretrained(out_dir)
    report = ExtensionReport(
        base=str(base_dir), n_base_tokens=n_base, n_added=len(added), n_already_present=len(present),
        first_new_id=min(new_ids), last_new_id=max(new_ids), rows_before=rows_before, rows_after=rows_after,
        tied_embeddings=tied, pad_token=extended.pad_token, seed=seed, noise_scale=noise_scale, vocab_sha256=vocabulary_digest(vocab),
    )
    (out_dir / EXTENSION_REPORT).write_text(json.dumps(asdict(report), indent=2) + "\n")
    return report
