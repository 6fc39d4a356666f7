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

from biomatrix_plugin.errors import ConfigError, InputFileError
from biomatrix_plugin.io import atomic_write
from biomatrix_plugin.vocab.vocabulary import Vocabulary, VocabularyError, load_vocabulary

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


# A Hugging Face model folder: its config and at least one of the files AutoTokenizer loads a BPE from.
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json")


def check_base_dir(base_dir: Path) -> None:
    """Refuse a base that is not a local model folder before transformers sees it (given a missing path,
    transformers takes it for a hub repo id and ends a long traceback with a repo-id error)."""
    if not base_dir.exists():
        raise InputFileError(f"{base_dir}: no such base model folder (--base takes a local Hugging Face model "
                             f"folder with config.json and the tokenizer files)")
    if not base_dir.is_dir():
        raise InputFileError(f"{base_dir}: not a folder (--base takes a local Hugging Face model folder)")
    if not (base_dir / "config.json").is_file():
        raise InputFileError(f"{base_dir}: no config.json, not a Hugging Face model folder")
    if not any((base_dir / name).is_file() for name in _TOKENIZER_FILES):
        raise InputFileError(f"{base_dir}: no tokenizer files ({', '.join(_TOKENIZER_FILES)})")


def _check_options(seed: int, noise_scale: float) -> None:
    if not math.isfinite(noise_scale) or noise_scale < 0:
        raise ConfigError(f"noise_scale must be a finite number >= 0, got {noise_scale}")
    if not 0 <= seed < 2**64:
        raise ConfigError(f"seed must be in [0, 2**64), got {seed}")


def _check_expected_ids(base_dir: Path, vocab: Vocabulary, added: list[str], present: list[str],
                        new_ids: list[int]) -> None:
    """An imported vocabulary (ids.tsv) must land on the release's ids exactly."""
    if not vocab.expected_ids:
        return
    wrong = [(t, i, vocab.expected_ids[t]) for t, i in zip(added, new_ids) if vocab.expected_ids.get(t) != i]
    if wrong or present:
        t, got, want = wrong[0] if wrong else (present[0], None, vocab.expected_ids.get(present[0]))
        raise ConfigError(
            f"{base_dir}: the imported vocabulary expects fixed ids but {len(wrong) + len(present)} tokens would "
            f"differ (e.g. {t!r}: {got} instead of {want}); use the base tokenizer the release was built on"
        )


def _description_ids(original, vocab: Vocabulary, added: list[str]) -> list[list[int]]:
    """Each new token's description tokenized by the original tokenizer (eq. 2's s_1..s_k)."""
    descriptions = vocab.descriptions()
    desc_ids = []
    for tok in added:
        ids = original.encode(descriptions[tok], add_special_tokens=False)
        if not ids:
            raise VocabularyError(f"token {tok!r}: its description {descriptions[tok]!r} tokenizes to nothing")
        desc_ids.append(ids)
    return desc_ids


def _is_tied(model) -> bool:
    out = model.get_output_embeddings()
    return bool(getattr(model.config, "tie_word_embeddings", False)) or (
        out is not None and out.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    )


def _resize(model, new_ids: list[int], pad_to_multiple_of: int) -> tuple[int, int]:
    """Grow the embedding only when the new ids pass its rows (Qwen3's padding rows are used first)."""
    rows_before = model.get_input_embeddings().weight.shape[0]
    needed = max(new_ids) + 1
    if needed > rows_before:
        model.resize_token_embeddings(needed, pad_to_multiple_of=pad_to_multiple_of, mean_resizing=False)
    return rows_before, model.get_input_embeddings().weight.shape[0]


def _init_rows(model, tied: bool, new_ids: list[int], desc_ids: list[list[int]], seed: int,
               noise_scale: float) -> None:
    """Eq. 2 on the input embedding (and the output one when untied), rows addressed by id."""
    import torch

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


def _set_pad(model, extended) -> None:
    if extended.pad_token_id is None or extended.pad_token_id == extended.eos_token_id:
        if PAD_TOKEN in extended.get_vocab():
            extended.pad_token = PAD_TOKEN
    model.config.pad_token_id = extended.pad_token_id
    if model.generation_config is not None:
        model.generation_config.pad_token_id = extended.pad_token_id


def _extend_tokenizer(base_dir: Path, vocab: Vocabulary):
    """(original tokenizer, extended tokenizer, added tokens, already present tokens, ids of the added)."""
    from transformers import AutoTokenizer

    original = AutoTokenizer.from_pretrained(base_dir)
    extended = AutoTokenizer.from_pretrained(base_dir)
    added, present = add_vocabulary(extended, vocab)
    if not added:
        raise ConfigError(f"{base_dir}: every vocabulary token is already present; nothing to extend")
    new_ids = extended.convert_tokens_to_ids(added)
    _check_expected_ids(base_dir, vocab, added, present, new_ids)
    return original, extended, added, present, new_ids


def extend_model(
    base_dir: str | Path,
    out_dir: str | Path,
    vocab: Vocabulary | None = None,
    *,
    seed: int = 0,
    noise_scale: float = 1.0,
    pad_to_multiple_of: int = 128,
) -> ExtensionReport:
    base_dir, out_dir = Path(base_dir), Path(out_dir)
    check_base_dir(base_dir)
    _check_options(seed, noise_scale)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputFileError(f"{out_dir}: exists and is not a folder (expected the output model folder)")
    vocab = vocab if vocab is not None else load_vocabulary()
    from transformers import AutoModelForCausalLM

    original, extended, added, present, new_ids = _extend_tokenizer(base_dir, vocab)
    desc_ids = _description_ids(original, vocab, added)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype="auto")
    rows_before, rows_after = _resize(model, new_ids, pad_to_multiple_of)
    tied = _is_tied(model)
    _init_rows(model, tied, new_ids, desc_ids, seed, noise_scale)
    _set_pad(model, extended)

    out_dir.mkdir(parents=True, exist_ok=True)
    model.config.vocab_size = rows_after
    model.save_pretrained(out_dir)
    extended.save_pretrained(out_dir)
    report = ExtensionReport(
        base=str(base_dir), n_base_tokens=len(original), n_added=len(added), n_already_present=len(present),
        first_new_id=min(new_ids), last_new_id=max(new_ids), rows_before=rows_before, rows_after=rows_after,
        tied_embeddings=tied, pad_token=extended.pad_token, seed=seed, noise_scale=noise_scale,
        vocab_sha256=vocabulary_digest(vocab),
    )
    atomic_write(out_dir / EXTENSION_REPORT, json.dumps(asdict(report), indent=2) + "\n")
    return report
