"""SELFIES for RDKit's canonical kekulé non-isomeric SMILES, without re-parsing through ``selfies``.

``selfies.encoder`` spends most of MolStrucTok's encode time re-reading a SMILES string into its own
graph. The strings encode needs come from one writer (RDKit, kekulé, no stereo, one fragment), so this
module reads them with a small tokenizer and emits exactly the symbols ``selfies.encoder`` would,
following the same graph walk (out-bond order = order of appearance, ring-opening placeholders,
branch and ring index symbols). Anything outside that subset (aromatic or stereo symbols, isotopes,
dots, unusual brackets) returns ``None`` and the caller uses ``selfies.encoder``; so does any atom over
its SELFIES bonding capacity, so that the library raises its own error for it. Agreement with
``selfies.encoder`` is tested on RDKit's 5,000 bundled NCI molecules.
"""

from __future__ import annotations

import re

from selfies.bond_constraints import get_bonding_capacity
from selfies.constants import ELEMENTS, ORGANIC_SUBSET
from selfies.grammar_rules import get_selfies_from_index

_TOKEN_TEXT = r"([-=#]?)(\[[^\]]*\]|Br|Cl|[BCNOPSFI]|\(|\)|%[0-9][0-9]|[0-9])"
_TOKEN = re.compile(_TOKEN_TEXT)
_WHOLE = re.compile(f"(?:{_TOKEN_TEXT})+")
_ATOM_CACHE: dict[str, tuple[str, str, int, int]] = {}  # SMILES atom -> _atom(...)
_MAX_CACHED = 1 << 14
_BRACKET = re.compile(r"^\[([A-Z][a-z]?)(?:H(\d*))?(?:([+-])(\d*))?\]$")
_ORDER = {"": 1, "-": 1, "=": 2, "#": 3}
_BOND_PREFIX = {1: "", 2: "=", 3: "#"}


def _atom(body: str) -> tuple[str, int, int, int] | None:
    """SMILES atom -> (SELFIES atom text, element, charge, hydrogens subtracted from capacity)."""
    if body[0] != "[":
        return body, body, 0, 0
    m = _BRACKET.match(body)
    if m is None:
        return None
    element, h, sign, mag = m.groups()
    if element not in ELEMENTS:
        return None
    h_count = 0 if h is None else (1 if h == "" else int(h))
    charge = 0 if sign is None else (1 if mag == "" else int(mag)) * (1 if sign == "+" else -1)
    text = element
    if h_count:
        text += f"H{h_count}"
    elif charge == 0 and element in ORGANIC_SUBSET:
        text += "H0"
    if charge:
        text += f"{charge:+}"
    return text, element, charge, h_count


def kekule_smiles_to_selfies(smiles: str) -> tuple[list[str], list[bool]] | None:
    """(SELFIES symbols, which symbols are atoms) or None when the fast path does not apply."""
    parsed = kekule_smiles_to_tokens(smiles)
    return None if parsed is None else parsed[:2]


def kekule_smiles_to_tokens(smiles: str) -> tuple[list[str], list[bool], list[int]] | None:
    """(SELFIES symbols, atom mask, focus) or None when the fast path does not apply.

    ``focus[i]`` is the highest-numbered atom before atom ``i`` (SMILES order = token order) bonded to
    it, -1 for atom 0: what :func:`biomatrix_plugin.mol3d.geometry.reference_atoms` reads off the
    adjacency matrix, here taken from the bonds the parser sees (chain bond to the previous atom, ring
    closures), so the encoder needs no adjacency matrix."""
    if not _WHOLE.fullmatch(smiles):
        return None
    atoms: list[str] = []
    spare: list[int] = []  # bonding capacity left per atom
    focus: list[int] = []
    # out[a]: [dst, order, is_ring] per outgoing bond, in the order selfies' parser records them;
    # a ring opening holds its slot with None until the closing digit arrives.
    out: list[list] = []
    stack: list[int] = []
    prev = -1
    chain_start = True  # selfies: a chain (the string, or a branch) must begin with an atom
    ring_open: dict[str, tuple[int, int, str]] = {}
    cache = _ATOM_CACHE
    for bond, body in _TOKEN.findall(smiles):
        c = body[0]
        if c >= "A":  # an atom: a letter or '['
            parsed = cache.get(body)
            if parsed is None:
                parsed = _atom(body)
                if parsed is None:
                    return None
                if len(cache) < _MAX_CACHED:
                    cache[body] = parsed
            text, element, charge, h_count = parsed
            # not cached with the atom: the capacity follows selfies' current semantic constraints
            capacity = get_bonding_capacity(element, charge) - h_count
            idx = len(atoms)
            atoms.append(text)
            out.append([])
            if prev < 0:
                if idx != 0 or bond:
                    return None
                spare.append(capacity)
                focus.append(-1)
            else:
                order = _ORDER[bond]
                out[prev].append([idx, order, False])
                spare[prev] -= order
                spare.append(capacity - order)
                focus.append(prev)
            prev = idx
            chain_start = False
        elif c == "(":
            if bond or chain_start:
                return None
            stack.append(prev)
            chain_start = True
        elif c == ")":
            if bond or chain_start or not stack:
                return None
            prev = stack.pop()
        else:  # a ring number
            if chain_start:
                return None
            entry = ring_open.pop(body, None)
            if entry is None:
                out[prev].append(None)
                ring_open[body] = (prev, len(out[prev]) - 1, bond)
                continue
            a, slot, lbond = entry
            if (lbond and bond and lbond != bond) or a == prev:
                return None  # selfies rejects mismatched ring-bond symbols
            lo, hi = (a, prev) if a < prev else (prev, a)
            if any(e is not None and e[0] == hi for e in out[lo]):
                return None  # ring bond between already-bonded atoms
            order = max(_ORDER[lbond], _ORDER[bond])
            out[a][slot] = [prev, order, True]
            out[prev].append([a, order, True])
            spare[a] -= order
            spare[prev] -= order
            if focus[hi] < lo:
                focus[hi] = lo
    if not atoms or ring_open or stack:
        return None
    if min(spare) < 0:
        return None  # let selfies.encoder raise its own constraint error
    symbols: list[str] = []
    mask: list[bool] = []
    _walk(0, None, atoms, out, symbols, mask)
    if len(atoms) != sum(mask):
        return None
    return symbols, mask, focus


def _walk(root: int, bond_order: int | None, atoms: list[str], out: list[list],
          symbols: list[str], mask: list[bool]) -> None:
    curr, order_in = root, bond_order
    while True:
        symbols.append(f"[{'' if order_in is None else _BOND_PREFIX[order_in]}{atoms[curr]}]")
        mask.append(True)
        bonds = out[curr]
        last = len(bonds) - 1
        nxt = None
        for i, (dst, order, ring) in enumerate(bonds):
            if ring:
                if curr < dst:
                    continue
                q = get_selfies_from_index(curr - dst - 1)
                symbols.append(f"[{_BOND_PREFIX[order]}Ring{len(q)}]")
                symbols.extend(q)
                mask.extend([False] * (len(q) + 1))
            elif i == last:
                nxt = (dst, order)
            else:
                sub_symbols: list[str] = []
                sub_mask: list[bool] = []
                _walk(dst, order, atoms, out, sub_symbols, sub_mask)
                q = get_selfies_from_index(len(sub_symbols) - 1)
                symbols.append(f"[{_BOND_PREFIX[order]}Branch{len(q)}]")
                symbols.extend(q)
                mask.extend([False] * (len(q) + 1))
                symbols.extend(sub_symbols)
                mask.extend(sub_mask)
        if nxt is None:
            break
        curr, order_in = nxt


_ANY_TOKEN_TEXT = r"([-=#/\\]?)(\[[^\]]*\]|Br|Cl|[A-Za-z]|\(|\)|%[0-9][0-9]|[0-9])"
_ANY_TOKEN = re.compile(_ANY_TOKEN_TEXT)
_ANY_WHOLE = re.compile(f"(?:{_ANY_TOKEN_TEXT})+")


def smiles_focus(smiles: str) -> list[int] | None:
    """Each atom's focus (as :func:`kekule_smiles_to_tokens` gives it) read off a one-fragment SMILES
    such as ``selfies.decoder`` writes, in the atom order RDKit's SMILES parser gives: the atom before
    it in its chain, or a later ring-closure partner. None for anything else ('.', unbalanced branches or
    ring numbers), which the caller reads from the adjacency matrix instead."""
    if not _ANY_WHOLE.fullmatch(smiles):
        return None
    focus: list[int] = []
    stack: list[int] = []
    prev = -1
    ring_open: dict[str, int] = {}
    for _, body in _ANY_TOKEN.findall(smiles):
        c = body[0]
        if c >= "A":
            if prev < 0 and focus:
                return None
            focus.append(prev)
            prev = len(focus) - 1
        elif c == "(":
            if prev < 0:
                return None
            stack.append(prev)
        elif c == ")":
            if not stack:
                return None
            prev = stack.pop()
        else:
            if prev < 0:
                return None
            a = ring_open.pop(body, None)
            if a is None:
                ring_open[body] = prev
            elif a == prev:
                return None
            else:
                lo, hi = (a, prev) if a < prev else (prev, a)
                if focus[hi] < lo:
                    focus[hi] = lo
    if ring_open or stack or not focus:
        return None
    return focus
