"""Generation backends behind one interface: Hugging Face transformers (CPU/GPU) and vLLM (optional, GPU).

Decoding follows the report's §5: greedy (temperature 0) for deterministic tasks; nucleus sampling with
top-p = 1.0, a per-task temperature and n samples for generative ones. Prompts go through the model's own
chat template (the Qwen3 ChatML template used in SFT; LLaMA-Factory's ``qwen3_nothink``), outputs are
decoded with ``skip_special_tokens=False`` so modality tokens (``<|mol_smi_start|>``, ``<A M>``, ...)
survive, Qwen's own terminators are cut off, and each text is parsed with the spine's ``unwrap``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

from biomatrix_plugin.errors import BioMatrixError

Messages = list[dict[str, str]]

QWEN_END_MARKERS = ("<|im_end|>", "<|endoftext|>")
_EMPTY_THINK = re.compile(r"^\s*<think>\s*</think>\s*")


class GenerationError(BioMatrixError, RuntimeError):
    """Generation cannot run (missing backend, bad prompt file, bad config); the message says why."""


@dataclass(frozen=True)
class DecodingConfig:
    do_sample: bool
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    max_new_tokens: int = 2048
    seed: int | None = 0

    def __post_init__(self) -> None:
        if self.do_sample and self.temperature <= 0:
            raise GenerationError("sampling needs temperature > 0 (use greedy decoding for temperature 0)")
        if not self.do_sample and self.n != 1:
            raise GenerationError("greedy decoding is deterministic: n must be 1")
        if self.n < 1 or self.max_new_tokens < 1:
            raise GenerationError("n and max_new_tokens must be >= 1")
        if not 0 < self.top_p <= 1:
            raise GenerationError("top_p must be in (0, 1]")

    @classmethod
    def greedy(cls, max_new_tokens: int = 2048) -> "DecodingConfig":
        return cls(do_sample=False, temperature=0.0, n=1, max_new_tokens=max_new_tokens)

    @classmethod
    def sample(cls, temperature: float, n: int = 1, max_new_tokens: int = 2048, seed: int | None = 0,
               top_p: float = 1.0) -> "DecodingConfig":
        return cls(do_sample=True, temperature=temperature, top_p=top_p, n=n, max_new_tokens=max_new_tokens,
                   seed=seed)


@dataclass
class Generation:
    """The n decoded answers to one prompt (terminators removed, modality tokens kept)."""

    texts: list[str]

    @property
    def unwrapped(self):
        from biomatrix_plugin.modalities.serialization import unwrap

        return [unwrap(t) for t in self.texts]


@dataclass
class Prompt:
    id: str
    messages: Messages
    meta: dict[str, Any] = field(default_factory=dict)


class GenerationBackend(Protocol):
    def generate(self, prompts: Sequence[Messages], config: DecodingConfig) -> list[Generation]: ...


def build_messages(instruction: str, input: str | None = None, system: str | None = None) -> Messages:
    """Alpaca-style record -> chat messages, joined as LLaMA-Factory does (instruction + '\\n' + input)."""
    content = instruction if not input else f"{instruction}\n{input}"
    messages: Messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": content})
    return messages


def clean_output(text: str) -> str:
    """Cut at Qwen's first terminator, drop an empty thinking block, trim whitespace."""
    for marker in QWEN_END_MARKERS:
        cut = text.find(marker)
        if cut >= 0:
            text = text[:cut]
    return _EMPTY_THINK.sub("", text).strip()


def decode_new_tokens(tokenizer, token_ids: Sequence[int]) -> str:
    # skip_special_tokens=False: modality tokens may be registered as special and must stay visible
    return clean_output(tokenizer.decode(list(token_ids), skip_special_tokens=False))


def chat_prompt(tokenizer, messages: Messages) -> str:
    if not getattr(tokenizer, "chat_template", None):
        raise GenerationError("the tokenizer has no chat template; BioMatrix checkpoints ship Qwen3's ChatML template")
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _end_token_ids(tokenizer) -> list[int]:
    ids = []
    for marker in QWEN_END_MARKERS:
        tid = tokenizer.convert_tokens_to_ids(marker)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id and tid >= 0:
            ids.append(tid)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


class HFBackend:
    """transformers ``generate`` on CPU or GPU, batched with left padding."""

    def __init__(self, model_dir: str | Path, device: str | None = None, batch_size: int = 8, dtype=None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(model_dir)
        if not (path / "config.json").exists():
            raise GenerationError(f"{path}: not a Hugging Face model directory (no config.json)")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype is None:
            dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(self.device).eval()
        self.batch_size = batch_size
        self.end_ids = _end_token_ids(self.tokenizer)

    def generate(self, prompts: Sequence[Messages], config: DecodingConfig) -> list[Generation]:
        import torch
        from tqdm.auto import tqdm

        texts = [chat_prompt(self.tokenizer, m) for m in prompts]
        if config.seed is not None:
            torch.manual_seed(config.seed)
        kwargs: dict[str, Any] = {"max_new_tokens": config.max_new_tokens, "eos_token_id": self.end_ids,
                                  "pad_token_id": self.tokenizer.pad_token_id, "do_sample": config.do_sample}
        if config.do_sample:
            # top_k=0 switches off the checkpoint's default top-k so that only top-p (1.0) applies
            kwargs.update(temperature=config.temperature, top_p=config.top_p, top_k=0,
                          num_return_sequences=config.n)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        out: list[Generation] = []
        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(starts, desc="generate", disable=len(starts) < 2):
            batch = texts[start:start + self.batch_size]
            enc = self.tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            with torch.no_grad():
                ids = self.model.generate(**enc, **kwargs)
            new = ids[:, enc["input_ids"].shape[1]:].tolist()
            for i in range(len(batch)):
                rows = new[i * config.n:(i + 1) * config.n]
                out.append(Generation([decode_new_tokens(self.tokenizer, r) for r in rows]))
        return out


class VLLMBackend:
    """vLLM offline inference (GPU). Installed with the ``vllm`` extra; imported only when used."""

    def __init__(self, model_dir: str | Path, seed: int = 0, **llm_kwargs):
        try:
            import vllm
        except ImportError as exc:
            raise GenerationError(
                "the vLLM backend needs the optional 'vllm' package and a CUDA GPU: "
                "pip install 'biomatrix-plugin[vllm]' (or use --backend hf)"
            ) from exc
        from transformers import AutoTokenizer

        self._vllm = vllm
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.llm = vllm.LLM(model=str(model_dir), tokenizer=str(model_dir), seed=seed, trust_remote_code=False,
                            **llm_kwargs)

    def generate(self, prompts: Sequence[Messages], config: DecodingConfig) -> list[Generation]:
        def params(seed):
            return self._vllm.SamplingParams(
                n=config.n,
                temperature=config.temperature if config.do_sample else 0.0,
                top_p=config.top_p if config.do_sample else 1.0,
                max_tokens=config.max_new_tokens,
                seed=seed,
                skip_special_tokens=False,
                stop=list(QWEN_END_MARKERS),
            )

        texts = [chat_prompt(self.tokenizer, m) for m in prompts]
        if config.do_sample and config.seed is not None:
            # one seed per request: vLLM gives two requests with one prompt and one seed the same sample
            results = self.llm.generate(texts, [params(config.seed + i) for i in range(len(texts))])
        else:
            results = self.llm.generate(texts, params(config.seed))
        return [Generation([clean_output(o.text) for o in r.outputs]) for r in results]


def load_backend(name: str, model_dir: str | Path, device: str | None = None, batch_size: int = 8,
                 seed: int = 0) -> GenerationBackend:
    if name == "hf":
        return HFBackend(model_dir, device=device, batch_size=batch_size)
    if name == "vllm":
        return VLLMBackend(model_dir, seed=seed)
    raise GenerationError(f"unknown backend {name!r}; expected hf or vllm")


def read_prompts(path: str | Path) -> list[Prompt]:
    """JSONL; each object has ``messages`` (chat list) or ``instruction`` (+ ``input``, ``system``)."""
    path = Path(path)
    if not path.exists():
        raise GenerationError(f"{path}: file not found")
    prompts = []
    from biomatrix_plugin.eval.io import json_records

    for number, obj in json_records(path, GenerationError):
        if not isinstance(obj, dict):
            raise GenerationError(f"{path}:{number}: expected a JSON object")
        if "messages" in obj:
            messages = obj["messages"]
            if not (isinstance(messages, list) and all(isinstance(m, dict) and "role" in m and "content" in m
                                                        for m in messages)):
                raise GenerationError(f"{path}:{number}: 'messages' must be a list of {{role, content}}")
        elif isinstance(obj.get("instruction"), str):
            messages = build_messages(obj["instruction"], obj.get("input"), obj.get("system"))
        else:
            raise GenerationError(f"{path}:{number}: needs 'messages' or a string 'instruction'")
        meta = {k: v for k, v in obj.items() if k not in ("messages", "instruction", "input", "system")}
        prompts.append(Prompt(str(obj.get("id", number)), messages, meta))
    if not prompts:
        raise GenerationError(f"{path}: no prompts")
    return prompts


def write_generations(path: str | Path, prompts: Sequence[Prompt], generations: Sequence[Generation]) -> dict:
    """One JSON line per prompt with its texts and unwrapped segments; returns counts."""
    if len(prompts) != len(generations):
        raise GenerationError(f"{len(prompts)} prompts but {len(generations)} generations")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_malformed = 0
    with path.open("w", encoding="utf-8") as fh:
        for prompt, gen in zip(prompts, generations):
            segments = []
            for u in gen.unwrapped:
                segs = [{"modality": s.modality, "value": s.value, "error": s.error} for s in u.segments]
                n_malformed += sum(s.error is not None for s in u.segments)
                segments.append(segs)
            # "prediction" (the first sample) is what paired metrics read by default; set metrics read
            # every sample with --field texts
            fh.write(json.dumps({"id": prompt.id, **prompt.meta, "prediction": gen.texts[0] if gen.texts else "",
                                 "texts": gen.texts, "segments": segments}) + "\n")
    return {"written": len(prompts), "samples": sum(len(g.texts) for g in generations),
            "malformed_segments": n_malformed}
