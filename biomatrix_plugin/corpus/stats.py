"""Statistics of a built corpus: instances and tokens per dataset, category and modality (text / 1D / 3D),
measured with the extended tokenizer, plus a token-composition PNG in the spirit of the report's Figure 2.

Each instance is split into wrapped segments and the text between them; pieces are tokenized separately.
That count is exact for the extended tokenizer because the start/end control tokens are added special
tokens: BPE never merges across them.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Iterator

from biomatrix_plugin.errors import BioMatrixError, InputFileError
from biomatrix_plugin.io import atomic_output, iter_jsonl

MODALITY_GROUP = {"smiles": "1D", "selfies": "1D", "protein": "1D", "mol3d": "3D", "prot3d": "3D", "text": "text"}
_SYMBOL = re.compile(r"<A [A-Z]>|<S \d+>|\[[^\[\]]+\]")
_WORDISH = re.compile(r"\w+|[^\w\s]")


class StatsInputError(InputFileError):
    """A built part file holds a line that is not an instance (not JSON, no ``text``)."""


class NoBuiltCorpusError(BioMatrixError, FileNotFoundError):
    """``corpus stats`` on a folder no build wrote."""


def iter_pieces(text: str) -> Iterator[tuple[str, str]]:
    """(modality, piece) for the text between segments and for each wrapped segment (wrappers included)."""
    from biomatrix_plugin.modalities.serialization import unwrap

    cursor = 0
    for seg in unwrap(text).segments:
        if seg.start > cursor:
            yield "text", text[cursor:seg.start]
        yield seg.modality, text[seg.start:seg.end]
        cursor = seg.end
    if cursor < len(text):
        yield "text", text[cursor:]


class ApproximateCounter:
    """Used when no tokenizer directory is given: words/punctuation for text, one token per symbol for
    wrapped residues/SELFIES/structure codes (+2 wrappers), characters/2 for SMILES. Reported as approximate."""

    name = "approximate (no tokenizer given)"

    def __call__(self, pieces: list[tuple[str, str]]) -> list[int]:
        out = []
        for modality, piece in pieces:
            if modality == "text":
                out.append(len(_WORDISH.findall(piece)))
            elif modality == "smiles":
                out.append(2 + max(1, (len(piece) - len("<|mol_smi_start|><|mol_smi_end|>")) // 2))
            else:
                out.append(2 + len(_SYMBOL.findall(piece)))
        return out


class TokenizerCounter:
    def __init__(self, tokenizer_dir: str | Path):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        self.name = f"tokenizer {tokenizer_dir}"

    def __call__(self, pieces: list[tuple[str, str]]) -> list[int]:
        if not pieces:
            return []
        ids = self.tokenizer([p for _, p in pieces], add_special_tokens=False)["input_ids"]
        return [len(x) for x in ids]


def iter_texts(path: Path):
    """The ``text`` of every instance of one output file (JSONL, or parquet from ``--format parquet``)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(str(path)).iter_batches(batch_size=1024, columns=["text"]):
            yield from batch.column(0).to_pylist()
        return
    for number, value, error in iter_jsonl(path):
        if error is None and not (isinstance(value, dict) and isinstance(value.get("text"), str)):
            error = "no 'text' string"
        if error is not None:  # a build writes neither: the file was changed or is not a build output
            raise StatsInputError(f"{path}:{number}: {error}")
        yield value["text"]


def built_datasets(out_dir: str | Path) -> list[dict]:
    """Manifests of every dataset built into ``out_dir``."""
    return [json.loads(p.read_text()) for p in sorted(Path(out_dir).glob("_build/*/manifest.json"))]


def compute_stats(out_dir: str | Path, tokenizer_dir: str | Path | None = None, batch: int = 256,
                  progress: bool = False) -> dict:
    from tqdm import tqdm

    out_dir = Path(out_dir)
    counter = TokenizerCounter(tokenizer_dir) if tokenizer_dir else ApproximateCounter()
    manifests = built_datasets(out_dir)
    if not manifests:
        raise NoBuiltCorpusError(f"{out_dir}: no _build/*/manifest.json; build a corpus there first")
    datasets = {}
    for man in manifests:
        name = man["dataset"]
        tokens: dict[str, int] = defaultdict(int)
        instances = 0
        buffer: list[tuple[str, str]] = []

        def flush() -> None:
            for (modality, _), n in zip(buffer, counter(buffer)):
                tokens[modality] += n
            buffer.clear()

        folder = man.get("output_folder", name)  # manifests written before output folders existed: the name
        files = [out_dir / folder / s["file"] for s in man["shards"]]
        for path in tqdm(files, desc=f"stats {name}", disable=not progress):
            for text in iter_texts(path):
                instances += 1
                buffer.extend(iter_pieces(text))
                if len(buffer) >= batch:
                    flush()
        flush()
        total = sum(tokens.values())
        groups: dict[str, int] = defaultdict(int)
        for modality, n in tokens.items():
            groups[MODALITY_GROUP[modality]] += n
        datasets[name] = {
            "category": man["category"],
            "subcategory": man.get("subcategory"),
            "instances": instances,
            "rejected": man["totals"]["rejected"],
            "tokens": total,
            "tokens_per_instance": total / instances if instances else 0.0,
            "tokens_by_modality": dict(sorted(tokens.items())),
            "tokens_by_group": dict(sorted(groups.items())),
            "sampling_weight": man.get("sampling_weight"),
        }
    by_category: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for d in datasets.values():
        for g, n in d["tokens_by_group"].items():
            by_category[d["category"]][g] += n
    report = {
        "counter": counter.name,
        "datasets": datasets,
        "by_category": {c: dict(v) for c, v in sorted(by_category.items())},
        "total_tokens": sum(d["tokens"] for d in datasets.values()),
        "total_instances": sum(d["instances"] for d in datasets.values()),
        "interleave_probs": suggested_interleave_probs(datasets),
    }
    return report


def suggested_interleave_probs(datasets: dict) -> dict[str, float] | None:
    """LLaMA-Factory samples *instances*; a card's ``sampling_weight`` is a share of *tokens*. Dividing by
    the measured tokens per instance turns one into the other. None when a dataset has no weight."""
    if not datasets or any(d.get("sampling_weight") is None or not d["tokens_per_instance"] for d in datasets.values()):
        return None
    raw = {n: d["sampling_weight"] / d["tokens_per_instance"] for n, d in datasets.items()}
    total = sum(raw.values())
    probs = {n: round(v / total, 6) for n, v in raw.items()}
    # make the rounded numbers sum to exactly 1 (LLaMA-Factory checks the sum)
    last = sorted(probs)[-1]
    probs[last] = round(1.0 - sum(v for k, v in probs.items() if k != last), 6)
    return probs


def plot_composition(report: dict, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cats = list(report["by_category"])
    groups = ["text", "1D", "3D"]
    colors = {"text": "#8da0cb", "1D": "#66c2a5", "3D": "#fc8d62"}
    fig, (ax_pie, ax_bar) = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [1, 1.4]})
    ds = report["datasets"]
    names = sorted(ds, key=lambda n: (ds[n]["category"], -ds[n]["tokens"]))
    inner = [sum(report["by_category"][c].values()) for c in cats]
    outer = [ds[n]["tokens"] for n in names]
    total = report["total_tokens"] or 1
    ax_pie.pie(inner, radius=0.7, labels=[f"{c}\n{v / total:.0%}" for c, v in zip(cats, inner)],
               labeldistance=0.35, wedgeprops={"width": 0.45, "edgecolor": "white"}, textprops={"fontsize": 8})
    ax_pie.pie(outer, radius=1.0, labels=names, labeldistance=1.05, wedgeprops={"width": 0.3, "edgecolor": "white"},
               textprops={"fontsize": 7})
    ax_pie.set_title(f"Tokens by source: {report['total_tokens']:,} total")
    left = [0] * len(cats)
    for g in groups:
        vals = [report["by_category"][c].get(g, 0) for c in cats]
        ax_bar.barh(cats, vals, left=left, color=colors[g], label=g)
        left = [l + v for l, v in zip(left, vals)]
    ax_bar.set_xlabel("tokens")
    ax_bar.set_title("Tokens by category and modality")
    ax_bar.legend(title="modality")
    fig.text(0.01, 0.01, f"counted with: {report['counter']}", fontsize=7)
    fig.tight_layout()
    path = Path(path)
    with atomic_output(path, "wb") as fh:  # whole or not at all, like every output
        fig.savefig(fh, dpi=120, format="png")
    plt.close(fig)
    return path


def format_report(report: dict) -> str:
    lines = [f"{'dataset':28s} {'category':13s} {'instances':>10s} {'rejected':>9s} {'tokens':>12s} "
             f"{'tok/inst':>9s} {'text':>10s} {'1D':>10s} {'3D':>10s}"]
    for name, d in report["datasets"].items():
        g = d["tokens_by_group"]
        lines.append(f"{name:28s} {d['category']:13s} {d['instances']:>10,d} {d['rejected']:>9,d} "
                     f"{d['tokens']:>12,d} {d['tokens_per_instance']:>9.1f} {g.get('text', 0):>10,d} "
                     f"{g.get('1D', 0):>10,d} {g.get('3D', 0):>10,d}")
    lines.append(f"total: {report['total_instances']:,} instances, {report['total_tokens']:,} tokens "
                 f"({report['counter']})")
    if report.get("interleave_probs"):
        probs = report["interleave_probs"]
        lines.append("suggested interleave_probs (token weights / tokens per instance); recipe lines:")
        lines.append(f"  dataset: {','.join(probs)}")
        lines.append("  mix_strategy: interleave_under")
        lines.append(f"  interleave_probs: {','.join(str(v) for v in probs.values())}")
    return "\n".join(lines)
