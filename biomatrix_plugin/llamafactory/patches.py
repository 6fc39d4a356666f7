"""What the plugin changes inside LLaMA-Factory 0.9.5 (applied by :mod:`.hook` on import).

1. Registers the ``biomatrix`` dataset formatting (see :mod:`.formatting`): alpaca-style columns whose
   text fields may hold ``{column|modality}`` placeholders, serialized at load time.
2. Stage ``pt`` packing: 0.9.5 concatenates each map batch (``preprocessing_batch_size`` rows) and drops
   the tail that does not fill a ``cutoff_len`` block, losing up to cutoff_len-1 tokens per batch. The
   patched processor keeps that tail as one shorter block; the collator pads it, and because the
   extended tokenizer's pad token is distinct from eos (see :mod:`.extend`), padding is masked while the
   document separators stay in the loss. ``BIOMATRIX_PT_KEEP_REMAINDER=0`` (read when the patch is applied)
   keeps stock behaviour.
3. SFT: 0.9.5 silently truncates examples longer than ``cutoff_len`` (with ``neat_packing`` as without);
   a cut response teaches the model to stop mid-molecule. The plugin counts truncated examples per map
   batch and logs them as a warning (truncation itself is unchanged), so nothing is lost unreported.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from itertools import chain

logger = logging.getLogger("biomatrix_plugin")

FORMATTING_NAME = "biomatrix"
SUPPORTED_VERSIONS = ("0.9.5",)


def _check_version() -> None:
    import llamafactory

    version = getattr(llamafactory, "__version__", "unknown")
    if version not in SUPPORTED_VERSIONS:
        logger.warning("biomatrix_plugin was written against LLaMA-Factory %s; found %s", SUPPORTED_VERSIONS, version)


def register_converter(converter_module) -> None:
    if FORMATTING_NAME in converter_module.DATASET_CONVERTERS:
        return
    from biomatrix_plugin.llamafactory.formatting import render_row

    base = converter_module.AlpacaDatasetConverter

    class BiomatrixDatasetConverter(base):
        """Alpaca columns + ``{column|modality}`` placeholders rendered before conversion."""

        def __call__(self, example):
            attr = self.dataset_attr
            fields = [attr.prompt, attr.query, attr.response, attr.system]
            where = f"dataset {attr.dataset_name!r}, row {_row_hint(example)}"
            return super().__call__(render_row(example, fields, where, history=attr.history))

    converter_module.register_dataset_converter(FORMATTING_NAME, BiomatrixDatasetConverter)


def _row_hint(example) -> str:
    for key in ("id", "idx", "index", "cid", "pid"):
        if key in example:
            return f"{key}={example[key]!r}"
    text = repr(dict(example))
    return text[:120] + ("..." if len(text) > 120 else "")


def pack_with_remainder(token_lists: list[list[int]], block_size: int) -> tuple[list[list[int]], int]:
    """Concatenate and cut into ``block_size`` blocks, keeping the last partial block.

    Returns (blocks, tokens the stock packing would have dropped)."""
    flat = list(chain.from_iterable(token_lists))
    blocks = [flat[i : i + block_size] for i in range(0, len(flat), block_size)]
    return blocks, len(flat) % block_size


def patch_pretrain_packing(pretrain_module) -> None:
    cls = pretrain_module.PretrainDatasetProcessor
    if getattr(cls, "_biomatrix_patched", False):
        return
    _check_version()
    # Decided here, not per call: datasets fingerprints the map function, so a switch read at run time
    # would silently reuse caches built under the other setting.
    if os.environ.get("BIOMATRIX_PT_KEEP_REMAINDER") == "0":
        # the user's opt-out: stock packing stays, but the class is marked as seen so `biomatrix doctor`
        # (and `make install`) still report the registration as working
        cls._biomatrix_patched, cls._biomatrix_keeps_remainder = True, False
        return
    stock = cls.preprocess_dataset

    def preprocess_dataset(self, examples):
        if not self.data_args.packing:
            return stock(self, examples)
        eos = "<|end_of_text|>" if self.data_args.template == "llama3" else self.tokenizer.eos_token
        texts = [messages[0]["content"] + eos for messages in examples["_prompt"]]
        tokenized = self.tokenizer(texts, add_special_tokens=False)
        blocks, kept = pack_with_remainder(tokenized["input_ids"], self.data_args.cutoff_len)
        if kept:
            logger.info("biomatrix: kept a %d-token tail block that stock packing drops", kept)
        result = {"input_ids": blocks, "attention_mask": [[1] * len(b) for b in blocks]}
        if getattr(self.tokenizer, "add_bos_token", False):
            for block in result["input_ids"]:
                block[0] = self.tokenizer.bos_token_id
        return result

    cls.preprocess_dataset = preprocess_dataset
    cls._biomatrix_stock_preprocess = stock
    cls._biomatrix_patched, cls._biomatrix_keeps_remainder = True, True


class _SftState(threading.local):
    def __init__(self) -> None:
        self.turns_seen = 0
        self.cut: str | None = None
        self.batch: Counter = Counter()
        self.totals: Counter = Counter()

    def __reduce__(self):
        # Pickled (only ever for hashing) as "a fresh state": the fingerprint then depends on code, not counts.
        return (_SftState, ())


_SFT_STATE = _SftState()


def _sft_state() -> _SftState:
    """datasets fingerprints map functions by pickling them with everything they reach; a plain
    thread-local is unpicklable, which forces a random hash and defeats the preprocessing cache (every
    rank would redo the work). ``_SftState.__reduce__`` keeps the pickle small and independent of counts."""
    return _SFT_STATE


def sft_truncation_totals() -> Counter:
    """Examples truncated in this process so far, by kind (prompt / response / turns)."""
    return Counter(_SFT_STATE.totals)


def patch_sft_truncation_count(supervised_module) -> None:
    cls = supervised_module.SupervisedDatasetProcessor
    if getattr(cls, "_biomatrix_patched", False):
        return
    stock_infer = supervised_module.infer_seqlen
    stock_encode = cls._encode_data_example
    stock_preprocess = {c: c.preprocess_dataset for c in (cls, supervised_module.PackedSupervisedDatasetProcessor)}

    def infer_seqlen(source_len, target_len, cutoff_len):
        new_source, new_target = stock_infer(source_len, target_len, cutoff_len)
        state = _sft_state()
        state.turns_seen += 1
        if new_target < target_len:
            state.cut = "response"
        elif new_source < source_len and state.cut is None:
            state.cut = "prompt"
        return new_source, new_target

    def _encode_data_example(self, prompt, response, *args, **kwargs):
        state = _sft_state()
        state.turns_seen, state.cut = 0, None
        result = stock_encode(self, prompt, response, *args, **kwargs)
        if state.cut is None and state.turns_seen < (len(prompt) + len(response)) // 2:
            state.cut = "turns"  # the budget ran out before the last turns were even looked at
        if state.cut:
            state.totals[state.cut] += 1
            state.batch[state.cut] += 1
        return result

    def make_preprocess(stock):
        def preprocess_dataset(self, examples):
            state = _sft_state()
            state.batch = Counter()
            out = stock(self, examples)
            if state.batch:
                logger.warning(
                    "biomatrix: %d of %d SFT examples in this batch exceed cutoff_len=%d and were truncated %s; "
                    "raise cutoff_len or shorten them", sum(state.batch.values()), len(examples["_prompt"]),
                    self.data_args.cutoff_len, dict(state.batch))
            return out

        return preprocess_dataset

    supervised_module.infer_seqlen = infer_seqlen
    cls._encode_data_example = _encode_data_example
    for c, stock in stock_preprocess.items():
        c.preprocess_dataset = make_preprocess(stock)
    cls._biomatrix_patched = True
