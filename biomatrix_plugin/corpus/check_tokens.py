"""``biomatrix data check-tokens --tokenizer DIR FILES...``: wrapped symbols the tokenizer splits into pieces.

Every symbol inside a wrapped segment (a SELFIES symbol, a joint 3D token, a residue, a structure code) must
be one token of the extended vocabulary. Data converted with another vocabulary (the released BioMatrix-SFT
corpus against a vocabulary built on our corpus, say) can hold joint 3D tokens this one lacks; the tokenizer
then cuts them into BPE fragments and training proceeds without a word. This counts, per modality, the
symbols and the ones the tokenizer would split, lists the worst ones, and exits 1 when there are any (or
malformed segments); 0 when clean. SMILES segments are ordinary BPE text by design and are not counted.

Reads JSONL (``.jsonl``/``.json``, gzip too) and parquet rows; the text columns are ``instruction``,
``input``, ``output``, ``text`` and the pairs of ``history``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from biomatrix_plugin.errors import InputFileError
from biomatrix_plugin.io import iter_jsonl
from biomatrix_plugin.modalities import table
from biomatrix_plugin.modalities.serialization import unwrap

TEXT_COLUMNS = ("instruction", "input", "output", "text")
# vocabulary category -> one symbol of a payload (smiles has no category: BPE text)
SYMBOL_PATTERNS = {
    "selfies": re.compile(r"\[[^\[\]\s]+\]|\."),
    "mol3d": re.compile(r"\[[^\[\]\s]+ -?[0-9]+\]"),
    "residue": re.compile(r"<A [A-Z]>"),
    "prot3d": re.compile(r"<S [0-9]+>"),
}
SHOWN = 10


@dataclass
class ModalityCounts:
    segments: int = 0
    symbols: int = 0
    split: Counter = field(default_factory=Counter)  # symbol -> occurrences
    malformed: int = 0


@dataclass
class TokenReport:
    files: int = 0
    rows: int = 0
    modalities: dict[str, ModalityCounts] = field(default_factory=dict)
    pieces: dict[str, int] = field(default_factory=dict)  # symbol -> pieces (every symbol seen)
    examples: list[str] = field(default_factory=list)  # first malformed segments: file:row reason

    @property
    def split_total(self) -> int:
        return sum(sum(m.split.values()) for m in self.modalities.values())

    @property
    def malformed_total(self) -> int:
        return sum(m.malformed for m in self.modalities.values())

    @property
    def clean(self) -> bool:
        return self.split_total == 0 and self.malformed_total == 0


class TokenCounter:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.report = TokenReport()

    def _pieces(self, symbol: str) -> int:
        n = self.report.pieces.get(symbol)
        if n is None:
            n = self.report.pieces[symbol] = len(self.tokenizer.encode(symbol, add_special_tokens=False))
        return n

    def add_text(self, text: str, where: str) -> None:
        for seg in unwrap(text, check_vocabulary=False).segments:
            counts = self.report.modalities.setdefault(seg.modality, ModalityCounts())
            counts.segments += 1
            if not seg.ok:
                counts.malformed += 1
                if len(self.report.examples) < SHOWN:
                    self.report.examples.append(f"{where}: {seg.modality}: {seg.error}")
            pattern = SYMBOL_PATTERNS.get(table.MODALITIES[seg.modality].category or "")
            if pattern is None:
                continue
            for symbol in pattern.findall(seg.payload):  # also in a malformed segment: it is trained on
                counts.symbols += 1
                if self._pieces(symbol) > 1:
                    counts.split[symbol] += 1


def _row_texts(row: dict) -> Iterator[str]:
    for key in TEXT_COLUMNS:
        value = row.get(key)
        if isinstance(value, str):
            yield value
    for turn in row.get("history") or ():
        for value in turn if isinstance(turn, (list, tuple)) else ():
            if isinstance(value, str):
                yield value


def iter_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """(row number, row) of a JSONL or parquet training file; a bad line is an error naming it."""
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    if path.suffix == ".parquet":
        from biomatrix_plugin.corpus.records import _parquet_rows

        yield from enumerate(_parquet_rows(str(path)), 1)
        return
    for lineno, value, error in iter_jsonl(path):
        if error is not None or not isinstance(value, dict):
            raise InputFileError(f"{path}:{lineno}: not a JSON object ({error or type(value).__name__})")
        yield lineno, value


def check_files(tokenizer, paths: list[Path]) -> TokenReport:
    counter = TokenCounter(tokenizer)
    for path in paths:
        counter.report.files += 1
        for number, row in iter_rows(Path(path)):
            counter.report.rows += 1
            for text in _row_texts(row):
                counter.add_text(text, f"{path}:{number}")
    return counter.report


def load_tokenizer(directory: str | Path):
    """A local tokenizer folder (never a hub id: the vocabulary checked must be the one trained)."""
    path = Path(directory)
    if not (path / "tokenizer_config.json").is_file():
        raise InputFileError(f"--tokenizer {path}: not a tokenizer folder (no tokenizer_config.json)")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


def format_report(report: TokenReport) -> str:
    lines = [f"{report.rows:,} rows in {report.files} file(s)",
             f"{'modality':10} {'segments':>10} {'symbols':>12} {'split':>10} {'distinct split':>15} {'malformed':>10}"]
    for name, m in sorted(report.modalities.items()):
        counted = SYMBOL_PATTERNS.get(table.MODALITIES[name].category or "") is not None
        symbols = f"{m.symbols:,}" if counted else "n/a (BPE)"
        lines.append(f"{name:10} {m.segments:>10,} {symbols:>12} {sum(m.split.values()):>10,} "
                     f"{len(m.split):>15,} {m.malformed:>10,}")
        for symbol, n in m.split.most_common(SHOWN):
            lines.append(f"    {symbol!r} x{n:,}: {report.pieces[symbol]} pieces")
    lines += [f"malformed: {e}" for e in report.examples]
    if report.clean:
        lines.append("ok: every wrapped symbol is one token")
    else:
        lines.append(f"FAIL: {report.split_total:,} wrapped symbol(s) split into several tokens, "
                     f"{report.malformed_total:,} malformed segment(s); extend the vocabulary with them "
                     "(biomatrix vocab build on this data) or reconvert the data with this vocabulary")
    return "\n".join(lines)


def run_check_tokens(tokenizer_dir: str | Path, files: list[str | Path]) -> int:
    """The command: print the report; 0 clean, 1 split symbols or malformed segments found."""
    report = check_files(load_tokenizer(tokenizer_dir), [Path(f) for f in files])
    print(format_report(report))
    return 0 if report.clean else 1
