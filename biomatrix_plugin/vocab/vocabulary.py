"""The extended vocabulary as data: one TSV per category in ``tokenizer_ext/`` (token<TAB>description).

Fixed categories (control, residues, protein structure) are generated from :mod:`.tokens`; the
corpus-derived ones (SELFIES symbols, molecule-3D joint tokens) come from :func:`build_from_counts`
(``biomatrix vocab build``) or :func:`import_from_tokenizer` (``biomatrix vocab import``).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from biomatrix_plugin.vocab.tokens import fixed_tokens

CATEGORY_FILES = {
    "control": "control.tsv",
    "residue": "residues.tsv",
    "prot3d": "protein_structure.tsv",
    "selfies": "selfies.tsv",
    "mol3d": "mol3d_joint.tsv",
}
IDS_FILE = "ids.tsv"  # written by `vocab import`: token<TAB>id of the released tokenizer
# Order in which tokens are appended to the base tokenizer (ids follow it) unless ids.tsv fixes them.
CATEGORY_ORDER = ("control", "residue", "selfies", "mol3d", "prot3d")


def default_vocab_dir() -> Path:
    """``$BIOMATRIX_VOCAB_DIR``, else the vocabulary shipped in the package (``tokenizer_ext/``)."""
    from biomatrix_plugin.paths import default_vocab_dir as _default

    return _default()


@dataclass
class Vocabulary:
    # category -> list of (token, description)
    entries: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # token -> id in a released tokenizer (``vocab import``); ``ordered`` then follows these ids and
    # ``extend`` checks that it reproduces them, whatever order the release put its categories in.
    expected_ids: dict[str, int] = field(default_factory=dict)

    @property
    def selfies_tokens(self) -> list[str]:
        return [t for t, _ in self.entries.get("selfies", [])]

    @property
    def joint_tokens(self) -> list[str]:
        return [t for t, _ in self.entries.get("mol3d", [])]

    def ordered(self) -> list[tuple[str, str]]:
        """All (token, description) pairs in id order, duplicates removed (first wins)."""
        if self.expected_ids:
            descs = {t: d for entries in self.entries.values() for t, d in entries}
            return [(t, descs[t]) for t in sorted(self.expected_ids, key=self.expected_ids.__getitem__)]
        seen: set[str] = set()
        out = []
        for cat in CATEGORY_ORDER:
            for tok, desc in self.entries.get(cat, []):
                if tok not in seen:
                    seen.add(tok)
                    out.append((tok, desc))
        return out

    def tokens(self) -> list[str]:
        return [t for t, _ in self.ordered()]

    def descriptions(self) -> dict[str, str]:
        return dict(self.ordered())

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for cat, name in CATEGORY_FILES.items():
            with open(directory / name, "w", encoding="utf-8", newline="") as fh:
                fh.write("token\tdescription\n")
                for tok, desc in self.entries.get(cat, []):
                    if "\t" in tok or "\n" in tok or "\t" in desc or "\n" in desc:
                        raise ValueError(f"vocabulary entry {tok!r}: tabs/newlines are not allowed")
                    fh.write(f"{tok}\t{desc}\n")
        ids_file = directory / IDS_FILE
        if self.expected_ids:
            with open(ids_file, "w", encoding="utf-8") as fh:
                fh.write("token\tid\n")
                for tok, i in sorted(self.expected_ids.items(), key=lambda kv: kv[1]):
                    fh.write(f"{tok}\t{i}\n")
        elif ids_file.exists():
            ids_file.unlink()


def load_vocabulary(directory: str | Path | None = None) -> Vocabulary:
    directory = Path(directory) if directory is not None else default_vocab_dir()
    vocab = Vocabulary()
    for cat, name in CATEGORY_FILES.items():
        path = directory / name
        if not path.exists():
            if cat in ("control", "residue", "prot3d"):
                raise FileNotFoundError(f"vocabulary file missing: {path}")
            vocab.entries[cat] = []
            continue
        rows = []
        with open(path, encoding="utf-8", newline="") as fh:
            header = fh.readline().rstrip("\n")
            if header != "token\tdescription":
                raise ValueError(f"{path}: first line must be 'token<TAB>description', got {header!r}")
            for lineno, line in enumerate(fh, start=2):
                line = line.rstrip("\n")
                if not line:
                    continue
                parts = line.split("\t")
                if len(parts) != 2 or not parts[0]:
                    raise ValueError(f"{path}:{lineno}: expected 'token<TAB>description', got {line!r}")
                rows.append((parts[0], parts[1]))
        vocab.entries[cat] = rows
    ids_file = directory / IDS_FILE
    if ids_file.exists():
        lines = ids_file.read_text(encoding="utf-8").splitlines()[1:]
        vocab.expected_ids = {tok: int(i) for tok, i in (line.split("\t") for line in lines if line)}
        known = {t for entries in vocab.entries.values() for t, _ in entries}
        if set(vocab.expected_ids) != known:
            raise ValueError(f"{ids_file}: its tokens differ from the category files ({len(known ^ set(vocab.expected_ids))} differ)")
    return vocab


def fixed_vocabulary() -> Vocabulary:
    fixed = fixed_tokens()
    return Vocabulary(
        entries={
            "control": [(t, d) for t, d in fixed if t.startswith("<|")],
            "residue": [(t, d) for t, d in fixed if t.startswith("<A ")],
            "prot3d": [(t, d) for t, d in fixed if t.startswith("<S ")],
        }
    )


def select_by_coverage(counts: Counter, coverage: float) -> list[str]:
    """Most frequent first; the smallest prefix whose occurrences exceed ``coverage`` of the total.

    Ties are broken by the token string so the result does not depend on counting order.
    """
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    total = sum(counts.values())
    if total == 0:
        return []
    kept, running = [], 0
    for tok, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        kept.append(tok)
        running += n
        if running >= coverage * total:
            break
    return kept


def selfies_alphabet_for(symbols: Iterable[str]) -> list[str]:
    """The SELFIES symbols seen, plus every branch/ring symbol ``selfies`` can emit, so any molecule
    over the seen atoms can be written (branch and ring sizes depend on the molecule, not the atoms)."""
    structural = set()
    for kind in ("Branch", "Ring"):
        for n in (1, 2, 3):
            for bond in ("", "=", "#"):
                structural.add(f"[{bond}{kind}{n}]")
    return sorted(set(symbols) | structural)


def build_from_counts(
    selfies_counts: Counter,
    joint_counts: Counter,
    coverage: float = 0.99,
) -> tuple[Vocabulary, dict]:
    """Vocabulary from corpus counts; returns it with a report of what the coverage rule kept."""
    vocab = fixed_vocabulary()
    selfies_syms = selfies_alphabet_for(selfies_counts)
    vocab.entries["selfies"] = [(s, s) for s in selfies_syms]
    joint = select_by_coverage(joint_counts, coverage)
    vocab.entries["mol3d"] = [(t, t) for t in joint]
    total = sum(joint_counts.values())
    covered = sum(joint_counts[t] for t in joint)
    report = {
        "selfies_symbols_seen": len(selfies_counts),
        "selfies_tokens": len(selfies_syms),
        "joint_tokens_seen": len(joint_counts),
        "joint_tokens_kept": len(joint),
        "joint_occurrences": total,
        "joint_coverage": covered / total if total else None,
        "coverage_target": coverage,
    }
    return vocab, report


def import_from_tokenizer(tokenizer_dir: str | Path) -> Vocabulary:
    """Take the added tokens of an existing BioMatrix tokenizer (``tokenizer.json`` or
    ``added_tokens.json``), keeping their id order, so ids stay compatible with released checkpoints."""
    tokenizer_dir = Path(tokenizer_dir)
    added: list[tuple[int, str]] = []
    tj = tokenizer_dir / "tokenizer.json"
    if tj.exists():
        data = json.loads(tj.read_text(encoding="utf-8"))
        added = [(a["id"], a["content"]) for a in data.get("added_tokens", [])]
    elif (tokenizer_dir / "added_tokens.json").exists():
        data = json.loads((tokenizer_dir / "added_tokens.json").read_text(encoding="utf-8"))
        added = [(i, t) for t, i in data.items()]
    else:
        raise FileNotFoundError(f"{tokenizer_dir}: neither tokenizer.json nor added_tokens.json found")
    fixed = fixed_vocabulary()
    fixed_desc = {t: d for entries in fixed.entries.values() for t, d in entries}
    vocab = Vocabulary(entries={c: [] for c in CATEGORY_FILES})
    for tid, tok in sorted(added):
        cat = classify_token(tok)
        if cat is None:
            continue  # Qwen3's own special tokens (<|im_start|>, <think>, ...)
        vocab.entries[cat].append((tok, fixed_desc.get(tok, tok)))
        vocab.expected_ids[tok] = tid
    imported = set(vocab.expected_ids)
    missing = [t for t, _ in fixed.ordered() if t not in imported]
    if missing:
        raise ValueError(
            f"{tokenizer_dir}: not a BioMatrix tokenizer; {len(missing)} required tokens missing, e.g. {missing[:3]}"
        )
    return vocab


def classify_token(tok: str) -> str | None:
    from biomatrix_plugin.vocab.tokens import CONTROL_TOKENS

    if any(tok in pair for pair in CONTROL_TOKENS.values()):
        return "control"
    if tok.startswith("<A ") and tok.endswith(">"):
        return "residue"
    if tok.startswith("<S ") and tok.endswith(">"):
        return "prot3d"
    if tok.startswith("[") and tok.endswith("]"):
        return "mol3d" if " " in tok else "selfies"
    return None


def read_counts(path: str | Path) -> Counter:
    """Read a ``token<TAB>count`` file (as written by :func:`write_counts`)."""
    counts: Counter = Counter()
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if row and row[0] != "token":
                counts[row[0]] += int(row[1])
    return counts


def write_counts(counts: Counter, path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("token\tcount\n")
        for tok, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            fh.write(f"{tok}\t{n}\n")
