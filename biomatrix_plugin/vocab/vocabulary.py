"""The extended vocabulary as data: one TSV per category in ``tokenizer_ext/`` (token<TAB>description).

Fixed categories (control, residues, protein structure) are generated from :mod:`.tokens`; the
corpus-derived ones (SELFIES symbols, molecule-3D joint tokens) come from :func:`build_from_counts`
(``biomatrix vocab build``) or :func:`import_from_tokenizer` (``biomatrix vocab import``).
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from biomatrix_plugin.errors import BioMatrixError, InputFileError
from biomatrix_plugin.io import atomic_write, load_json, open_text
from biomatrix_plugin.vocab.tokens import CONTROL_TOKENS, fixed_tokens


class VocabularyError(BioMatrixError, ValueError):
    """A vocabulary folder or tokenizer that cannot be used; the message names the file and the reason."""


_CONTROL = frozenset(tok for pair in CONTROL_TOKENS.values() for tok in pair)


def _bracketed(token: str) -> bool:
    return token.startswith("[") and token.endswith("]")


@dataclass(frozen=True)
class Category:
    """One vocabulary category: its TSV file, whether it is generated from :mod:`.tokens` (and so must be
    present in every vocabulary folder), and the shape of its tokens (what :func:`classify_token` reads)."""

    file: str
    fixed: bool
    matches: Callable[[str], bool]


# In classification order: the first category whose shape matches a token is its category. The modality
# table (modalities.table.Modality.category) names these keys for each modality's payload tokens.
CATEGORIES: dict[str, Category] = {
    "control": Category("control.tsv", True, _CONTROL.__contains__),
    "residue": Category("residues.tsv", True, lambda t: t.startswith("<A ") and t.endswith(">")),
    "prot3d": Category("protein_structure.tsv", True, lambda t: t.startswith("<S ") and t.endswith(">")),
    "selfies": Category("selfies.tsv", False, lambda t: _bracketed(t) and " " not in t),
    "mol3d": Category("mol3d_joint.tsv", False, lambda t: _bracketed(t) and " " in t),
}
CATEGORY_FILES = {name: cat.file for name, cat in CATEGORIES.items()}
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
        """Write one TSV per category (and ``ids.tsv`` when ids are fixed), each file whole or not at all;
        every entry is checked before the first file is written."""
        directory = output_dir(directory)
        files = {name: _tsv("token\tdescription", self.entries.get(cat, [])) for cat, name in CATEGORY_FILES.items()}
        for name, text in files.items():
            atomic_write(directory / name, text)
        ids_file = directory / IDS_FILE
        if self.expected_ids:
            atomic_write(ids_file, _tsv("token\tid", sorted(self.expected_ids.items(), key=lambda kv: kv[1])))
        elif ids_file.exists():
            ids_file.unlink()


def _tsv(header: str, rows: Iterable[tuple[str, object]]) -> str:
    lines = [header]
    for tok, value in rows:
        value = str(value)
        if "\t" in tok or "\n" in tok or "\t" in value or "\n" in value:
            raise VocabularyError(f"vocabulary entry {tok!r}: tabs/newlines are not allowed")
        lines.append(f"{tok}\t{value}")
    return "\n".join(lines) + "\n"


def output_dir(directory: str | Path, create: bool = True) -> Path:
    """``directory``, created if needed (``create``); an existing non-folder is an InputFileError naming it."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InputFileError(f"{directory}: exists and is not a folder (expected an output folder)")
    if not create:
        return directory
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputFileError(f"{directory}: cannot create the output folder ({exc.strerror})") from None
    return directory


def _read_category(path: Path) -> list[tuple[str, str]]:
    rows = []
    with open_text(path) as fh:
        header = fh.readline().rstrip("\r\n")
        if header != "token\tdescription":
            raise VocabularyError(f"{path}: first line must be 'token<TAB>description', got {header!r}")
        for lineno, line in enumerate(fh, start=2):
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t")
            if len(parts) != 2 or not parts[0]:
                raise VocabularyError(f"{path}:{lineno}: expected 'token<TAB>description', got {line!r}")
            rows.append((parts[0], parts[1]))
    return rows


def _read_ids(ids_file: Path, vocab: Vocabulary) -> dict[str, int]:
    ids: dict[str, int] = {}
    with open_text(ids_file) as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if lineno == 1 or not line:
                continue
            tok, _, value = line.partition("\t")
            if not value.isascii() or not value.isdigit():
                raise VocabularyError(f"{ids_file}:{lineno}: expected 'token<TAB>id', got {line!r}")
            ids[tok] = int(value)
    known = {t for entries in vocab.entries.values() for t, _ in entries}
    if set(ids) != known:
        raise VocabularyError(f"{ids_file}: its tokens differ from the category files ({len(known ^ set(ids))} differ)")
    return ids


def load_vocabulary(directory: str | Path | None = None) -> Vocabulary:
    directory = Path(directory) if directory is not None else default_vocab_dir()
    if not directory.is_dir():
        raise InputFileError(f"{directory}: no such vocabulary folder")
    vocab = Vocabulary()
    for cat, name in CATEGORY_FILES.items():
        path = directory / name
        if path.exists():
            vocab.entries[cat] = _read_category(path)
        elif CATEGORIES[cat].fixed:
            raise InputFileError(f"vocabulary file missing: {path}")
        else:
            vocab.entries[cat] = []
    if (directory / IDS_FILE).exists():
        vocab.expected_ids = _read_ids(directory / IDS_FILE, vocab)
    return vocab


def fixed_vocabulary() -> Vocabulary:
    entries: dict[str, list[tuple[str, str]]] = {name: [] for name, cat in CATEGORIES.items() if cat.fixed}
    for tok, desc in fixed_tokens():
        entries[classify_token(tok)].append((tok, desc))
    return Vocabulary(entries=entries)


def select_by_coverage(counts: Counter, coverage: float) -> list[str]:
    """Most frequent first; the smallest prefix whose occurrences exceed ``coverage`` of the total.

    Ties are broken by the token string so the result does not depend on counting order.
    """
    if not 0 < coverage <= 1:  # also false for nan
        raise VocabularyError(f"coverage must be in (0, 1], got {coverage}")
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


def _added_tokens(tokenizer_dir: Path) -> list[tuple[int, str]]:
    """(id, token) of a tokenizer folder's added tokens, from ``tokenizer.json`` or ``added_tokens.json``."""
    if not tokenizer_dir.is_dir():
        raise InputFileError(f"{tokenizer_dir}: no such tokenizer folder")
    for name in ("tokenizer.json", "added_tokens.json"):
        path = tokenizer_dir / name
        if not path.exists():
            continue
        data = load_json(path)
        try:
            if name == "tokenizer.json":
                return [(int(a["id"]), str(a["content"])) for a in data.get("added_tokens", [])]
            return [(int(i), str(t)) for t, i in data.items()]
        except (AttributeError, KeyError, TypeError, ValueError):
            raise VocabularyError(f"{path}: its added tokens are not in the Hugging Face layout") from None
    raise InputFileError(f"{tokenizer_dir}: neither tokenizer.json nor added_tokens.json found")


def import_from_tokenizer(tokenizer_dir: str | Path) -> Vocabulary:
    """Take the added tokens of an existing BioMatrix tokenizer (``tokenizer.json`` or
    ``added_tokens.json``), keeping their id order, so ids stay compatible with released checkpoints."""
    tokenizer_dir = Path(tokenizer_dir)
    added = _added_tokens(tokenizer_dir)
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
        raise VocabularyError(
            f"{tokenizer_dir}: not a BioMatrix tokenizer; {len(missing)} required tokens missing, e.g. {missing[:3]}"
        )
    return vocab


def classify_token(tok: str) -> str | None:
    """The vocabulary category of ``tok`` (a key of :data:`CATEGORIES`), or None for a token that is not
    BioMatrix's (Qwen3's own ``<|im_start|>``, ``<think>``, ...)."""
    return next((name for name, cat in CATEGORIES.items() if cat.matches(tok)), None)


def read_counts(path: str | Path) -> Counter:
    """Read a ``token<TAB>count`` file (as written by :func:`write_counts`)."""
    counts: Counter = Counter()
    with open_text(path) as fh:
        for lineno, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if not row or row[0] == "token":
                continue
            if len(row) != 2 or not row[1].isascii() or not row[1].isdigit():
                raise VocabularyError(f"{path}:{lineno}: expected 'token<TAB>count', got {row!r}")
            counts[row[0]] += int(row[1])
    return counts


def write_counts(counts: Counter, path: str | Path) -> None:
    atomic_write(path, _tsv("token\tcount", sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))))
