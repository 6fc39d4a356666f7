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

_TOKEN = re.compile(r"([-=#]?)(\[[^\]]*\]|Br|Cl|[BCNOPSFI]|\(|\)|%\d\d|\d)")
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
    pos = 0
    atoms: list[str] = []
    capacity: list[int] = []
    bond_count: list[int] = []
    # out[a]: [dst, order, is_ring] per outgoing bond, in the order selfies' parser records them;
    # a ring opening holds its slot with None until the closing digit arrives.
    out: list[list] = []
    prev_stack: list[int | None] = [None]
    ring_open: dict[str, tuple[int, int, str]] = {}
    for m in _TOKEN.finditer(smiles):
        if m.start() != pos:
            return None
        pos = m.end()
        bond, body = m.group(1), m.group(2)
        c = body[0]
        if c == "(":
            if bond or prev_stack[-1] is None:
                return None
            prev_stack.append(prev_stack[-1])
        elif c == ")":
            if bond or len(prev_stack) < 2:
                return None
            prev_stack.pop()
        elif c.isdigit() or c == "%":
            prev = prev_stack[-1]
            if prev is None:
                return None
            if body not in ring_open:
                out[prev].append(None)
                ring_open[body] = (prev, len(out[prev]) - 1, bond)
            else:
                a, slot, lbond = ring_open.pop(body)
                if (lbond and bond and lbond != bond) or a == prev:
                    return None  # selfies rejects mismatched ring-bond symbols
                order = max(_ORDER[lbond], _ORDER[bond])
                if any(e is not None and e[0] == prev for e in out[a]):
                    return None  # ring bond between already-bonded atoms
                out[a][slot] = [prev, order, True]
                out[prev].append([a, order, True])
                bond_count[a] += order
                bond_count[prev] += order
        else:
            parsed = _atom(body)
            if parsed is None:
                return None
            text, element, charge, h_count = parsed
            idx = len(atoms)
            atoms.append(text)
            capacity.append(get_bonding_capacity(element, charge) - h_count)
            bond_count.append(0)
            out.append([])
            prev = prev_stack[-1]
            if prev is None:
                if idx != 0:
                    return None
            else:
                order = _ORDER[bond]
                out[prev].append([idx, order, False])
                bond_count[prev] += order
                bond_count[idx] += order
            prev_stack[-1] = idx
    if pos != len(smiles) or not atoms or ring_open or len(prev_stack) != 1:
        return None
    if any(n > cap for n, cap in zip(bond_count, capacity)):
        return None  # let selfies.encoder raise its own constraint error
    symbols: list[str] = []
    mask: list[bool] = []
    _walk(0, None, atoms, out, symbols, mask)
    if len(atoms) != sum(mask):
        return None
    return symbols, mask


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
