"""Turn raw biological entities into wrapped token strings and back.

Every wrapped segment is ``<start>payload<end>`` with no whitespace inside, so that the extended tokenizer
maps each residue, SELFIES symbol, joint token and structure code to exactly one token and no token spans
a wrapper boundary. ``unwrap`` is the inverse used on generated text: it never raises on model output,
it reports malformed segments instead.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Mapping, Sequence

from biomatrix_plugin.errors import BioMatrixError
from biomatrix_plugin.errors import short_repr as _short
from biomatrix_plugin.io import quiet_rdkit
from biomatrix_plugin.modalities import table
from biomatrix_plugin.vocab.tokens import (
    N_MOL3D_CODES,
    N_PROTEIN_STRUCTURE_CODES,
    NON_ATOM_CODE,
    RESIDUE_LETTERS,
    residue_token,
    structure_token,
)


class SerializationError(BioMatrixError, ValueError):
    """A value cannot be serialized; the message names the value and the reason."""


def _modality(name: str) -> table.Modality:
    try:
        return table.MODALITIES[name]
    except KeyError:
        raise SerializationError(f"unknown modality {name!r}; expected one of {', '.join(table.names())}") from None


def _wrap(modality: str, payload: str) -> str:
    return table.MODALITIES[modality].wrap_payload(payload)


def _require_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise SerializationError(f"{what} {_short(value)}: expected a string, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------- free text and size limits
#
# Two rules every builder, converter and metric applies before text or a molecule goes further:
# - free text that becomes training text never contains a control token (it would open or close a
#   modality segment the row does not have): check_free_text rejects it;
# - a SMILES is checked for size before RDKit sees it (a 20,000-atom SMILES crashes RDKit with SIGSEGV, a
#   10 MB line takes gigabytes): check_smiles_size rejects it. Limits are configurable per call or by the
#   environment variables below.

DEFAULT_MAX_SMILES_CHARS = int(os.environ.get("BIOMATRIX_MAX_SMILES_CHARS", "4096"))
DEFAULT_MAX_SMILES_ATOMS = int(os.environ.get("BIOMATRIX_MAX_SMILES_ATOMS", "1024"))
_SMILES_ATOM = re.compile(r"\[[^\]]*\]|Br|Cl|[BCNOPSFIbcnops]")


def check_smiles_size(smiles: str, max_chars: int | None = None, max_atoms: int | None = None) -> None:
    """Raise SerializationError when ``smiles`` is longer than ``max_chars`` characters or has more than
    ``max_atoms`` atoms (counted from the string, without RDKit)."""
    max_chars = DEFAULT_MAX_SMILES_CHARS if max_chars is None else max_chars
    max_atoms = DEFAULT_MAX_SMILES_ATOMS if max_atoms is None else max_atoms
    if len(smiles) <= max_atoms and len(smiles) <= max_chars:
        return  # every atom takes at least one character: no need to count
    if len(smiles) > max_chars:
        raise SerializationError(f"SMILES {_short(smiles)}: {len(smiles):,} characters, over the limit of "
                                 f"{max_chars:,} (BIOMATRIX_MAX_SMILES_CHARS)")
    n_atoms = len(_SMILES_ATOM.findall(smiles))
    if n_atoms > max_atoms:
        raise SerializationError(f"SMILES {_short(smiles)}: {n_atoms:,} atoms, over the limit of {max_atoms:,} "
                                 f"(BIOMATRIX_MAX_SMILES_ATOMS)")


def find_control_token(text: str) -> str | None:
    """The first modality control token in ``text``, or None."""
    if "<|" not in text:
        return None
    for tok in _boundaries().tokens:
        if tok in text:
            return tok
    return None


def check_free_text(text: object, where: str) -> str:
    """Return ``text`` if it can go into a training row as free text; raise SerializationError naming
    ``where`` when it is not a string or contains a modality control token."""
    if not isinstance(text, str):
        raise SerializationError(f"{where}: expected text, got {type(text).__name__} {_short(text)}")
    tok = find_control_token(text)
    if tok is not None:
        raise SerializationError(f"{where}: free text contains the control token {tok} (it would open or "
                                 f"close a modality segment); wrap entities through the builders instead")
    return text


# ---------------------------------------------------------------- SMILES

def has_whitespace(text: str) -> bool:
    """Whether ``text`` holds any (Unicode) whitespace: str.split's own test, in C (a per-character generator
    was ~3% of a task build)."""
    return text.split() != [text] and bool(text)


def validate_smiles(smiles: str, canonicalize: bool = False) -> str:
    """Parse with RDKit; return the SMILES (canonical if asked). Raises SerializationError."""
    from rdkit import Chem

    if not isinstance(smiles, str) or not smiles.strip():
        raise SerializationError(f"SMILES {_short(smiles)}: empty or not a string")
    if has_whitespace(smiles.strip()):
        raise SerializationError(f"SMILES {_short(smiles)}: contains whitespace")
    with quiet_rdkit():  # a parse failure is reported in the error below; RDKit's own log line is noise
        mol = Chem.MolFromSmiles(smiles.strip())
    if mol is None:
        raise SerializationError(f"SMILES {_short(smiles)}: RDKit cannot parse it")
    return Chem.MolToSmiles(mol) if canonicalize else smiles.strip()


def wrap_smiles(smiles: str, canonicalize: bool = False, validated: bool = False) -> str:
    """Wrap a SMILES (parsed by RDKit first). ``validated=True`` is for a string that RDKit itself just wrote
    (a canonical SMILES): parsing it again costs ~0.1 ms and cannot fail, so only its form is checked."""
    if validated and not canonicalize:
        if not isinstance(smiles, str) or not smiles or has_whitespace(smiles):
            raise SerializationError(f"SMILES {_short(smiles)}: empty, not a string, or contains whitespace")
        return _wrap("smiles", smiles)
    return _wrap("smiles", validate_smiles(smiles, canonicalize))


def smiles_payload(value: object) -> str:
    return validate_smiles(value)


def parse_smiles_payload(payload: str, check_vocabulary: bool = True) -> str:
    return validate_smiles(payload)


# ---------------------------------------------------------------- SELFIES

_SELFIES_SYMBOL = re.compile(r"\[[^\[\]\s]+\]|\.")
FRAGMENT_SEPARATOR = "."  # SELFIES keeps SMILES' dot between fragments; the base BPE has it as one token


def split_selfies(selfies: str) -> list[str]:
    """Split a SELFIES string into symbols (and ``.`` fragment separators); raises on anything else."""
    _require_str(selfies, "SELFIES")
    symbols = _SELFIES_SYMBOL.findall(selfies)
    if "".join(symbols) != selfies or not symbols:
        raise SerializationError(f"SELFIES {_short(selfies)}: not a sequence of [bracketed] symbols")
    if any(not fragment for fragment in selfies.split(FRAGMENT_SEPARATOR)):
        raise SerializationError(f"SELFIES {_short(selfies)}: empty fragment around '.'")
    return symbols


def smiles_to_selfies(smiles: str) -> str:
    from biomatrix_plugin.modalities import selfies_fast

    validate_smiles(smiles)
    try:
        return selfies_fast.encode(smiles)
    except Exception as exc:  # selfies raises EncoderError with a useful message
        raise SerializationError(f"SMILES {_short(smiles)}: SELFIES cannot express it ({exc})") from exc


def wrap_selfies(
    selfies: str | None = None,
    *,
    smiles: str | None = None,
    vocabulary: Iterable[str] | None = None,
    canonicalize: bool = True,
) -> str:
    """Wrap a SELFIES string (or the SELFIES of ``smiles``).

    ``vocabulary``: the allowed SELFIES symbols; defaults to the project's vocabulary in ``tokenizer_ext/``.
    A symbol outside it would be split into BPE pieces, breaking one-token-per-symbol, so it is an error.
    ``canonicalize`` (with ``smiles=``): encode RDKit's canonical SMILES, as the corpus builders and
    ``vocab build`` do, so that SFT data shows a molecule's SELFIES as pretraining did ("C1=CNC=C1" and
    "c1cc[nH]c1" give the same SELFIES) and uses the symbols the vocabulary was counted on.
    """
    if (selfies is None) == (smiles is None):
        raise SerializationError("wrap_selfies: give exactly one of selfies= or smiles=")
    if selfies is None:
        selfies = smiles_to_selfies(validate_smiles(smiles, canonicalize=True) if canonicalize else smiles)
    return _wrap("selfies", selfies_payload(selfies, vocabulary))


def selfies_payload(selfies: object, vocabulary: Iterable[str] | None = None) -> str:
    """``selfies`` if it is a sequence of symbols in ``vocabulary`` (default: the project's)."""
    symbols = split_selfies(selfies)
    allowed = frozenset(vocabulary) if vocabulary is not None else _default_selfies_symbols()
    unknown = sorted({s for s in symbols if s not in allowed and s != FRAGMENT_SEPARATOR})
    if unknown:
        raise SerializationError(
            f"SELFIES {_short(selfies)}: symbols not in the vocabulary: {', '.join(unknown[:10])}"
        )
    return selfies


def parse_selfies_payload(payload: str, check_vocabulary: bool = True) -> str:
    symbols = split_selfies(payload)
    if not check_vocabulary:
        return payload
    unknown = sorted({s for s in symbols if s != FRAGMENT_SEPARATOR} - _default_selfies_symbols())
    if unknown:
        raise SerializationError(f"SELFIES segment {_short(payload)}: unknown tokens {', '.join(unknown[:10])}")
    return payload


def _default_selfies_symbols() -> frozenset[str]:
    from biomatrix_plugin.vocab.vocabulary import default_vocab_dir

    return _selfies_symbols_in(str(default_vocab_dir()))


@lru_cache(maxsize=8)
def _selfies_symbols_in(vocab_dir: str) -> frozenset[str]:
    # Cached per directory: reading the TSVs on every call made SELFIES wrapping 50x slower.
    from biomatrix_plugin.vocab.vocabulary import load_vocabulary

    return frozenset(load_vocabulary(vocab_dir).selfies_tokens)


# ---------------------------------------------------------------- proteins

def normalize_protein(sequence: str) -> str:
    """Upper-case, drop whitespace; raises on anything outside the 26 IUPAC letters."""
    if not isinstance(sequence, str):
        raise SerializationError(f"protein sequence {_short(sequence)}: not a string")
    seq = "".join(sequence.split()).upper()
    if not seq:
        raise SerializationError("protein sequence '': empty")
    if _ALL_LETTERS and seq.isascii() and seq.isalpha():
        return seq  # the common case in one C-level check (a per-residue loop was most of a PEER row's cost)
    bad = sorted({c for c in seq if c not in RESIDUE_LETTERS})
    if bad:
        pos = next(i for i, c in enumerate(seq) if c in bad)
        raise SerializationError(
            f"protein sequence {_short(sequence)}: invalid character(s) {''.join(bad)!r} "
            f"(first at position {pos}); allowed: the 26 letters A-Z"
        )
    return seq


def wrap_protein(sequence: str) -> str:
    return _wrap("protein", protein_payload(sequence))


_ALL_LETTERS = set(RESIDUE_LETTERS) == set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_RESIDUE_OPEN, _RESIDUE_CLOSE = residue_token("X").split("X")  # "<A ", ">"


def protein_payload(sequence: object) -> str:
    # one str.join over the letters (in C) instead of a Python call per residue: "<A M><A K>..."
    seq = normalize_protein(sequence)
    return _RESIDUE_OPEN + (_RESIDUE_CLOSE + _RESIDUE_OPEN).join(seq) + _RESIDUE_CLOSE


_RESIDUE_TOKEN = re.compile(r"<A ([A-Z])>")


def parse_protein_payload(payload: str, check_vocabulary: bool = True) -> str:
    residues = _RESIDUE_TOKEN.findall(payload)
    if "".join(residue_token(r) for r in residues) != payload or not residues:
        raise SerializationError(f"protein segment {_short(payload)}: not a sequence of <A X> tokens")
    return "".join(residues)


def validate_structure_codes(codes: Sequence[int], sequence: str | None = None) -> list[int]:
    out = []
    for i, c in enumerate(codes):
        if isinstance(c, bool) or not isinstance(c, (int,)) and not hasattr(c, "__index__"):
            raise SerializationError(f"protein structure code {_short(c)} at position {i}: not an integer")
        c = int(c)
        if not 0 <= c < N_PROTEIN_STRUCTURE_CODES:
            raise SerializationError(
                f"protein structure code {c} at position {i}: outside 0-{N_PROTEIN_STRUCTURE_CODES - 1}"
            )
        out.append(c)
    if not out:
        raise SerializationError("protein structure codes: empty")
    if sequence is not None:
        n = len(normalize_protein(sequence))
        if n != len(out):
            raise SerializationError(
                f"protein structure: {len(out)} codes but the sequence has {n} residues; they must match"
            )
    return out


def wrap_prot3d(codes: Sequence[int], sequence: str | None = None) -> str:
    codes = validate_structure_codes(codes, sequence)
    return _wrap("prot3d", "".join(structure_token(c) for c in codes))


# ASCII only: str.isdigit / int() / \d also take '١٢٣' (Arabic-Indic) or '１２３' (full-width) digits and
# '1_000', and str.split() splits on Unicode spaces; none of them is a code a user means.
_ASCII_UINT = re.compile(r"[0-9]+\Z")
_ASCII_SPACE = re.compile(r"[ \t\r\n]+")
_ASCII_UINT_ANYWHERE = re.compile(r"[0-9]+")
_CODE_LIST = re.compile(r"[ \t\r\n]*[0-9]+(?:(?:[ \t\r\n]*,[ \t\r\n]*|[ \t\r\n]+)[0-9]+)*[ \t\r\n]*")


def parse_code_list(text: str, what: str = "protein structure codes") -> list[int]:
    """``"1, 2 3"`` -> [1, 2, 3]: non-negative integers in ASCII digits, separated by ASCII whitespace
    and/or commas. Every malformed field (empty between commas, non-ASCII digits, sign, other text) is
    named in one SerializationError; nothing is dropped. The one rule for codes typed as text (``wrap
    --modality prot3d``, ``{col|prot3d}`` placeholders, ``vq_indices.csv`` code fields)."""
    _require_str(text, what)
    if _CODE_LIST.fullmatch(text):  # the common, well-formed case in one regex pass
        return [int(f) for f in _ASCII_UINT_ANYWHERE.findall(text)]
    if not text.strip(" \t\r\n"):
        raise SerializationError(f"{what} {_short(text)}: empty")
    fields: list[str] = []
    for part in text.split(","):
        words = [w for w in _ASCII_SPACE.split(part) if w]
        fields.extend(words or [""])  # an empty field between commas is a field, and malformed
    bad = [f"field {i} {f!r} " + ("is empty" if not f else "is not an integer in ASCII digits 0-9")
           for i, f in enumerate(fields, 1) if not _ASCII_UINT.match(f)]
    if bad:
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise SerializationError(f"{what} {_short(text)}: not integers: {'; '.join(bad[:5])}{more}")
    return [int(f) for f in fields]


def prot3d_payload(codes: object) -> str:
    if isinstance(codes, str):
        codes = parse_code_list(codes)
    elif isinstance(codes, (bytes, Mapping)) or not isinstance(codes, Iterable):
        raise SerializationError(f"protein structure codes {_short(codes)}: expected a list of integers or a "
                                 f"string of them, got {type(codes).__name__}")
    return "".join(structure_token(c) for c in validate_structure_codes(codes))


_STRUCT_TOKEN = re.compile(r"<S ([0-9]+)>")


def parse_prot3d_payload(payload: str, check_vocabulary: bool = True) -> list[int]:
    codes = [int(c) for c in _STRUCT_TOKEN.findall(payload)]
    if "".join(structure_token(c) for c in codes) != payload:
        raise SerializationError(f"protein 3D segment {_short(payload)}: not a sequence of <S n> tokens")
    return validate_structure_codes(codes)


# ---------------------------------------------------------------- molecule 3D (joint tokens)

_JOINT = re.compile(r"\[([^\[\]\s]+) (-?[0-9]+)\]")


def parse_joint_tokens(struct_sfi: str) -> list[tuple[str, int]]:
    """``[H 3][C 0][Branch1 -1]`` -> [("[H]", 3), ("[C]", 0), ("[Branch1]", -1)]."""
    _require_str(struct_sfi, "molecule 3D tokens")
    pairs = [(f"[{m.group(1)}]", int(m.group(2))) for m in _JOINT.finditer(struct_sfi)]
    rebuilt = "".join(f"{s[:-1]} {c}]" for s, c in pairs)
    if not pairs or rebuilt != struct_sfi:
        raise SerializationError(
            f"molecule 3D tokens {_short(struct_sfi)}: not a sequence of [SYMBOL CODE] joint tokens"
        )
    for i, (sym, code) in enumerate(pairs):
        if code != NON_ATOM_CODE and not 0 <= code < N_MOL3D_CODES:
            raise SerializationError(
                f"molecule 3D token {sym[:-1]} {code}] at position {i}: code outside 0-{N_MOL3D_CODES - 1}"
            )
    return pairs


# mol3d_tokens imports this module (its error, parse_joint_tokens), so it is reached by name, not imported
_STRUCT_SFI_VALIDATOR = "biomatrix_plugin.modalities.mol3d_tokens:validate_struct_sfi"


def check_struct_sfi(struct_sfi: object) -> str:
    """``struct_sfi`` if it is a bare joint-token string that ``mol3d decode`` accepts: the one check of
    ``wrap --modality mol3d``, the builders' ``struct_sfi`` and a ``<|mol_3d_start|>`` segment found by
    :func:`unwrap` (syntax here: no wrapper, no whitespace; grammar and atom count in ``mol3d_tokens``)."""
    parse_joint_tokens(struct_sfi)
    table.resolve(_STRUCT_SFI_VALIDATOR)(struct_sfi)
    return struct_sfi


def wrap_mol3d(struct_sfi: str) -> str:
    """Wrap a MolStrucTok joint-token string (see :mod:`biomatrix_plugin.mol3d` to make one)."""
    return _wrap("mol3d", check_struct_sfi(struct_sfi))


def mol3d_payload(value: object) -> str:
    return check_struct_sfi(value)


def parse_mol3d_payload(payload: str, check_vocabulary: bool = True) -> str:
    return check_struct_sfi(payload)


def wrap(modality: str, value) -> str:
    """Wrap ``value`` as ``modality`` (an entry of :data:`table.MODALITIES`); used by the CLI and the
    LLaMA-Factory formatting. A value that modality cannot hold is a SerializationError."""
    entry = _modality(modality)
    return entry.wrap_payload(entry.make_payload(value))


# ---------------------------------------------------------------- unwrap


@dataclass
class Segment:
    """One wrapped segment found in text. ``value`` is None when ``error`` says why it is malformed."""

    modality: str
    start: int  # character span of the whole segment, wrappers included
    end: int
    payload: str
    value: object = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Unwrapped:
    segments: list[Segment] = field(default_factory=list)
    text: str = ""  # the input with every segment replaced by a placeholder like {smiles0}

    @property
    def errors(self) -> list[Segment]:
        return [s for s in self.segments if not s.ok]

    def values(self, modality: str) -> list:
        return [s.value for s in self.segments if s.modality == modality and s.ok]

    def first(self, modality: str):
        vals = self.values(modality)
        return vals[0] if vals else None


def _parse_payload(modality: str, payload: str, check_vocabulary: bool = True) -> object:
    return table.MODALITIES[modality].parse_payload(payload, check_vocabulary)


@dataclass(frozen=True)
class _Boundaries:
    """The control tokens of the table: a regex finding any of them, and token -> (modality, is_start)."""

    regex: re.Pattern
    kind: dict[str, tuple[str, bool]]
    tokens: tuple[str, ...]


def _boundaries() -> _Boundaries:
    return _boundaries_for(table.boundary_key())


@lru_cache(maxsize=4)
def _boundaries_for(key: tuple[tuple[str, str, str], ...]) -> _Boundaries:
    kind: dict[str, tuple[str, bool]] = {}
    for name, start, end in key:
        kind[start] = (name, True)
        kind[end] = (name, False)
    return _Boundaries(re.compile("|".join(re.escape(t) for t in kind)), kind, tuple(kind))


class _Scanner:
    """Walks the control tokens of one text, pairing starts with ends into segments."""

    def __init__(self, text: str, check_vocabulary: bool):
        self.text, self.check_vocabulary = text, check_vocabulary
        self.result = Unwrapped()
        self.pieces: list[str] = []
        self.cursor = 0
        self.open_mod: str | None = None
        self.open_at = 0
        self.counts: dict[str, int] = {}

    def emit(self, seg: Segment) -> None:
        self.pieces.append(self.text[self.cursor : seg.start])
        idx = self.counts.get(seg.modality, 0)
        self.counts[seg.modality] = idx + 1
        self.pieces.append("{" + f"{seg.modality}{idx}" + "}")
        self.cursor = seg.end
        self.result.segments.append(seg)

    def _open_token(self) -> str:
        return table.MODALITIES[self.open_mod].start

    def _open_payload(self, until: int) -> str:
        return self.text[self.open_at + len(self._open_token()) : until]

    def start(self, modality: str, m: re.Match) -> None:
        if self.open_mod is not None:
            self.emit(Segment(self.open_mod, self.open_at, m.start(), self._open_payload(m.start()),
                              error=f"{self._open_token()} not closed before {m.group(0)}"))
        self.open_mod, self.open_at = modality, m.start()

    def end(self, modality: str, m: re.Match) -> None:
        if self.open_mod is None:
            self.emit(Segment(modality, m.start(), m.end(), "", error=f"{m.group(0)} without a matching start"))
            return
        payload = self._open_payload(m.start())
        if modality != self.open_mod:
            seg = Segment(self.open_mod, self.open_at, m.end(), payload,
                          error=f"{self._open_token()} closed by {m.group(0)}")
        else:
            seg = Segment(modality, self.open_at, m.end(), payload)
            try:
                seg.value = _parse_payload(modality, payload, self.check_vocabulary)
            except SerializationError as exc:
                seg.error = str(exc)
        self.emit(seg)
        self.open_mod = None

    def finish(self) -> Unwrapped:
        if self.open_mod is not None:
            self.emit(Segment(self.open_mod, self.open_at, len(self.text), self._open_payload(len(self.text)),
                              error=f"{self._open_token()} not closed (text ended)"))
        self.pieces.append(self.text[self.cursor :])
        self.result.text = "".join(self.pieces)
        return self.result


def unwrap(text: str, check_vocabulary: bool = True) -> Unwrapped:
    """Find every wrapped segment in ``text``; malformed ones (unclosed, stray end, mismatched end,
    bad payload) are returned with ``error`` set instead of raising.

    ``check_vocabulary=False`` accepts any well-formed SELFIES symbol: counting a corpus to build a new
    vocabulary must see the symbols the current one lacks."""
    bounds = _boundaries()
    scanner = _Scanner(text, check_vocabulary)
    for m in bounds.regex.finditer(text):
        modality, is_start = bounds.kind[m.group(0)]
        (scanner.start if is_start else scanner.end)(modality, m)
    return scanner.finish()
