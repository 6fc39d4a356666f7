"""Joint tokens: one per SELFIES symbol, ``[C 42]`` for an atom symbol with its MolStrucTok code and
``[Branch1 -1]`` for a symbol that makes no atom (branch/ring symbols and the index symbols they consume).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence

from biomatrix_plugin.modalities.serialization import SerializationError, parse_joint_tokens
from biomatrix_plugin.mol3d.errors import Mol3DError
from biomatrix_plugin.vocab.tokens import CONTROL_TOKENS, N_MOL3D_CODES, NON_ATOM_CODE

_SYMBOL = re.compile(r"\[[^\[\]]+\]")
# A branch symbol [Branch1..3] (with an optional bond prefix) consumes 1-3 following symbols as its
# length index; a ring symbol [Ring1..3] (optionally with a bond or stereo-bond prefix) does the same.
_CONSUMER = re.compile(r"^\[(?:[=#]|[-/\\]{1,2}|=?[/\\]?)?(?:Branch|Ring)([123])\]$")


def split_symbols(selfies: str) -> list[str]:
    symbols = _SYMBOL.findall(selfies)
    if "".join(symbols) != selfies:
        raise Mol3DError(f"SELFIES {selfies[:60]!r}: not a sequence of [bracketed] symbols")
    return symbols


def atom_symbol_mask(symbols: Sequence[str]) -> list[bool]:
    """Which SELFIES symbols derive an atom, read off the grammar (a branch/ring symbol and the index
    symbols it consumes make none). Agrees with ``selfies.decoder(..., attribute=True)`` on encoder output."""
    mask = [False] * len(symbols)
    skip = 0
    for i, sym in enumerate(symbols):
        if skip:
            skip -= 1
            continue
        m = _CONSUMER.match(sym)
        if m:
            skip = int(m.group(1))
        else:
            mask[i] = True
    return mask


def atom_symbol_mask_by_decoder(selfies: str, n_symbols: int) -> list[bool]:
    """The reference's attribution: a symbol is an atom when some decoded SMILES token is last
    attributed to it. Slower; used as the fallback when the grammar count disagrees with the molecule."""
    import selfies as sf

    _, attribution = sf.decoder(selfies, attribute=True)
    atoms = {amap.attribution[-1].index for amap in attribution}
    return [i in atoms for i in range(n_symbols)]


def build_struct_sfi(symbols: Sequence[str], mask: Sequence[bool], codes: Sequence[int]) -> str:
    out = []
    it = iter(codes)
    for sym, is_atom in zip(symbols, mask):
        code = next(it) if is_atom else NON_ATOM_CODE
        out.append(f"{sym[:-1]} {code}]")
    return "".join(out)


def strip_wrapper(text: str) -> str:
    start, end = CONTROL_TOKENS["mol3d"]
    text = text.strip()
    if text.startswith(start) and text.endswith(end):
        text = text[len(start):-len(end)]
    return text


def parse_struct_sfi(struct_sfi: str, record: str = "") -> tuple[list[str], list[int], list[bool]]:
    """Validate a joint-token string -> (SELFIES symbols, atom codes, atom mask).

    Checks the token syntax, the code range, and that exactly the atom symbols carry codes."""
    where = f"{record}: " if record else ""
    if not isinstance(struct_sfi, str) or not struct_sfi.strip():
        raise Mol3DError(f"{where}empty molecule 3D token string")
    try:
        pairs = parse_joint_tokens(strip_wrapper(struct_sfi))
    except SerializationError as exc:
        raise Mol3DError(f"{where}{exc}") from exc
    symbols = [s for s, _ in pairs]
    mask = atom_symbol_mask(symbols)
    codes = []
    for pos, ((sym, code), is_atom) in enumerate(zip(pairs, mask)):
        if is_atom and code == NON_ATOM_CODE:
            raise Mol3DError(f"{where}token {pos} {sym[:-1]} {code}] is an atom symbol but has no code "
                             f"(expected 0-{N_MOL3D_CODES - 1})")
        if not is_atom and code != NON_ATOM_CODE:
            raise Mol3DError(f"{where}token {pos} {sym[:-1]} {code}] makes no atom but carries a code "
                             f"(expected {NON_ATOM_CODE})")
        if is_atom:
            codes.append(code)
    if not codes:
        raise Mol3DError(f"{where}no atom symbols in {struct_sfi[:60]!r}")
    return symbols, codes, mask


def count_joint_tokens(struct_sfi_strings: Iterable[str]) -> tuple[Counter, Counter]:
    """Count SELFIES symbols and joint tokens over joint-token strings (wrapped or bare).

    Returns ``(selfies_counter, joint_counter)``, e.g. ``Counter({'[C]': 9, ...})`` and
    ``Counter({'[C 42]': 3, '[Branch1 -1]': 2, ...})``, the inputs of
    :func:`biomatrix_plugin.vocab.vocabulary.build_from_counts`. Raises :class:`Mol3DError` naming the string's
    position on a malformed string."""
    selfies_counts: Counter = Counter()
    joint_counts: Counter = Counter()
    for i, text in enumerate(struct_sfi_strings):
        try:
            pairs = parse_joint_tokens(strip_wrapper(text))
        except SerializationError as exc:
            raise Mol3DError(f"string {i}: {exc}") from exc
        for sym, code in pairs:
            selfies_counts[sym] += 1
            joint_counts[f"{sym[:-1]} {code}]"] += 1
    return selfies_counts, joint_counts
