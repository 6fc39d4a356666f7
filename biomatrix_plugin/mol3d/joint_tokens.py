"""Joint tokens: one per SELFIES symbol, ``[C 42]`` for an atom symbol with its MolStrucTok code and
``[Branch1 -1]`` for a symbol that makes no atom (branch/ring symbols and the index symbols they consume).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence

from biomatrix_plugin.modalities.mol3d_tokens import (
    atom_symbol_mask,
    decode_struct_sfi,
    strip_mol3d_wrapper,
    validate_struct_sfi,
)
from biomatrix_plugin.modalities.serialization import SerializationError, parse_joint_tokens
from biomatrix_plugin.mol3d.errors import Mol3DError
from biomatrix_plugin.vocab.tokens import NON_ATOM_CODE

_SYMBOL = re.compile(r"\[[^\[\]]+\]")


def split_symbols(selfies: str) -> list[str]:
    symbols = _SYMBOL.findall(selfies)
    if "".join(symbols) != selfies:
        raise Mol3DError(f"SELFIES {selfies[:60]!r}: not a sequence of [bracketed] symbols")
    return symbols


def atom_symbol_mask_by_decoder(selfies: str, n_symbols: int) -> list[bool]:
    """The reference's attribution: a symbol is an atom when some decoded SMILES token is last
    attributed to it. Slower; used as the fallback when the grammar count disagrees with the molecule."""
    import selfies as sf

    _, attribution = sf.decoder(selfies, attribute=True)
    atoms = {amap.attribution[-1].index for amap in attribution}
    return [i in atoms for i in range(n_symbols)]


_NON_ATOM_TOKEN: dict[str, str] = {}  # '[Branch1]' -> '[Branch1 -1]' (a small fixed set of symbols)


def build_struct_sfi(symbols: Sequence[str], mask: Sequence[bool], codes: Sequence[int]) -> str:
    out = []
    it = iter(codes)
    for sym, is_atom in zip(symbols, mask):
        if is_atom:
            out.append(f"{sym[:-1]} {next(it)}]")
        else:
            token = _NON_ATOM_TOKEN.get(sym)
            if token is None:
                token = f"{sym[:-1]} {NON_ATOM_CODE}]"
                if len(_NON_ATOM_TOKEN) < 4096:
                    _NON_ATOM_TOKEN[sym] = token
            out.append(token)
    return "".join(out)


def strip_wrapper(text: str) -> str:
    return strip_mol3d_wrapper(text)


def parse_struct_sfi(struct_sfi: str, record: str = "") -> tuple[list[str], list[int], list[bool]]:
    """Validate a joint-token string -> (SELFIES symbols, atom codes, atom mask), by the one validator
    :func:`biomatrix_plugin.modalities.mol3d_tokens.validate_struct_sfi` (syntax, code range, symbols
    SELFIES decodes, codes exactly on the atom symbols, as many atoms decoded as codes)."""
    try:
        pairs = validate_struct_sfi(struct_sfi, record)
    except SerializationError as exc:
        raise Mol3DError(str(exc)) from None
    symbols = [s for s, _ in pairs]
    mask = atom_symbol_mask(symbols)
    return symbols, [c for (_, c), atom in zip(pairs, mask) if atom], mask


def decode_symbols(struct_sfi: str, record: str = "") -> tuple[list[str], list[int], str]:
    """(SELFIES symbols, atom codes, decoded SMILES) of a valid joint-token string; Mol3DError otherwise."""
    try:
        return decode_struct_sfi(struct_sfi, record)
    except SerializationError as exc:
        raise Mol3DError(str(exc)) from None


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
