"""The one validator of MolStrucTok joint-token strings (``[C 42][Branch1 -1][O 7]...``).

``wrap --modality mol3d``, the corpus builders' precomputed ``struct_sfi``, unwrap and ``mol3d decode``
must agree on which strings are molecules, or a training row can hold tokens that decode rejects. Rules,
each failure a :class:`SerializationError` naming the token (position and text) and the reason:

- syntax: a sequence of ``[SYMBOL CODE]`` tokens (``parse_joint_tokens``), codes -1 or 0-511;
- the SELFIES grammar decides which symbols make atoms: a branch or ring symbol and the index symbols it
  consumes make none and carry the non-atom code -1 (``[Branch1 5]`` is invalid); every other symbol is an
  atom, must be one SELFIES can decode (``[Xx 3]``, ``[Og 1]`` are not) and carries a code 0-511
  (``[C -1]`` is invalid);
- the whole string decodes (``selfies.decoder``) to exactly as many atoms as it has codes: tokens that
  SELFIES' valence rules collapse (``[F 1][F 2][F 3]`` is F-F) belong to another molecule.

May import: ``vocab`` and the base layer (and :mod:`.serialization` for its error and token syntax).
"""

from __future__ import annotations

import re
from typing import Sequence

from biomatrix_plugin.modalities.serialization import SerializationError, parse_joint_tokens
from biomatrix_plugin.vocab.tokens import CONTROL_TOKENS, N_MOL3D_CODES, NON_ATOM_CODE

# A branch symbol [Branch1..3] (with an optional bond prefix) consumes 1-3 following symbols as its
# length index; a ring symbol [Ring1..3] (optionally with a bond or stereo-bond prefix) does the same.
_CONSUMER = re.compile(r"^\[(?:[=#]|[-/\\]{1,2}|=?[/\\]?)?(?:Branch|Ring)([123])\]$")
# atoms in the SMILES selfies.decoder writes (kekulé, bracket atoms or the organic subset)
_SMILES_ATOM = re.compile(r"\[[^\]]*\]|Br|Cl|[BCNOPSFI]")


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


def strip_mol3d_wrapper(text: str) -> str:
    """The payload of ``<|mol_3d_start|>...<|mol_3d_end|>`` (the text itself when it is bare)."""
    start, end = CONTROL_TOKENS["mol3d"]
    text = text.strip()
    if text.startswith(start) and text.endswith(end):
        text = text[len(start):-len(end)]
    return text


def _token(pos: int, sym: str, code: int) -> str:
    return f"token {pos} {sym[:-1]} {code}]"


def _is_decodable_atom(symbol: str) -> bool:
    from biomatrix_plugin.modalities import selfies_fast

    return selfies_fast.is_atom_symbol(symbol)


def _check_token(pos: int, sym: str, code: int, is_atom: bool) -> None:
    if not is_atom:
        if code != NON_ATOM_CODE:
            raise SerializationError(f"{_token(pos, sym, code)} makes no atom (a branch/ring symbol or its "
                                     f"index) but carries a code (expected {NON_ATOM_CODE})")
        return
    if not _is_decodable_atom(sym):
        raise SerializationError(f"{_token(pos, sym, code)}: SELFIES cannot decode {sym} as an atom "
                                 f"(unknown element or malformed symbol)")
    if code == NON_ATOM_CODE:
        raise SerializationError(f"{_token(pos, sym, code)} is an atom symbol but has no code "
                                 f"(expected 0-{N_MOL3D_CODES - 1})")


def _decode_symbols(symbols: Sequence[str]) -> str:
    import selfies as sf

    from biomatrix_plugin.modalities import selfies_fast

    try:
        return selfies_fast.decode("".join(symbols)) or ""
    except sf.DecoderError as exc:
        raise SerializationError(f"SELFIES cannot decode the symbols ({str(exc).splitlines()[0]})") from None


def _validate(text: str) -> tuple[list[tuple[str, int]], list[bool], str]:
    if not isinstance(text, str) or not text.strip():
        raise SerializationError("empty molecule 3D token string")
    pairs = parse_joint_tokens(strip_mol3d_wrapper(text))
    symbols = [s for s, _ in pairs]
    mask = atom_symbol_mask(symbols)
    for pos, ((sym, code), is_atom) in enumerate(zip(pairs, mask)):
        _check_token(pos, sym, code, is_atom)
    n_codes = sum(mask)
    if not n_codes:
        raise SerializationError(f"no atom symbols in {text[:60]!r}")
    smiles = _decode_symbols(symbols)
    n_atoms = len(_SMILES_ATOM.findall(smiles))
    if n_atoms != n_codes:
        raise SerializationError(f"{n_codes} atom codes but the tokens decode to {n_atoms} atoms "
                                 f"(SELFIES' valence rules drop symbols: tokens of another molecule)")
    return pairs, mask, smiles


def _named(where: str, fn, text: str):
    try:
        return fn(text)
    except SerializationError as exc:
        if not where:
            raise
        raise SerializationError(f"{where}: {exc}") from None


def validate_struct_sfi(text: str, where: str = "") -> list[tuple[str, int]]:
    """Check a joint-token string (bare or wrapped) by the rules above; return its ``(symbol, code)``
    pairs. ``where`` (a record name) prefixes the message."""
    return _named(where, _validate, text)[0]


def decode_struct_sfi(text: str, where: str = "") -> tuple[list[str], list[int], str]:
    """:func:`validate_struct_sfi`, returning (SELFIES symbols, atom codes, the SMILES SELFIES decodes to)
    for decoders, which would otherwise decode the SELFIES a second time."""
    pairs, mask, smiles = _named(where, _validate, text)
    return [s for s, _ in pairs], [c for (_, c), atom in zip(pairs, mask) if atom], smiles
