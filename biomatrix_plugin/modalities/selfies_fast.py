"""``selfies.encoder(smiles, strict=True)``, faster, for the SMILES RDKit writes; ``None`` where it declines.

``selfies.encoder`` spends ~0.4 ms a molecule building a ``MolecularGraph`` of Python objects (one ``Atom``,
two ``DirectedBond`` and attribution bookkeeping per bond). This module follows the same steps on plain
lists: the same tokenizer rules, the same graph (out-bond order = order of appearance, ring-opening
placeholders), the same kekulization (the same pruning of the delocalization subgraph and selfies' own
``find_perfect_matching`` on the same relabelled adjacency, so the same double bonds), the same chirality
inversion and the same derivation walk, so its output is byte-identical to selfies'.

It declines (returns ``None``) instead of guessing, and the caller then runs ``selfies.encoder``, which
gives the answer or raises its own error: any SMILES selfies would reject (unparsable, hanging bonds or
ring numbers, kekulization failure, an atom over its bonding capacity under the current semantic
constraints) and any construct outside what RDKit's canonical writer emits that this module does not
model (explicit ':' bonds, a bond symbol before a chain's first atom, empty '.' fragments, ring bonds
between bonded atoms). Equality with ``selfies.encoder`` is tested on MOSES' 176k test SMILES and RDKit's
bundled NCI and ligand sets (tests/test_selfies_fast.py).

May import: the base layer and ``selfies`` (its matching routine, constants and constraint table).
"""

from __future__ import annotations

import re

from selfies import bond_constraints as _constraints
from selfies.bond_constraints import get_bonding_capacity
from selfies.constants import (
    AROMATIC_SUBSET,
    AROMATIC_VALENCES,
    ELEMENTS,
    INDEX_CODE,
    ORGANIC_SUBSET,
    VALENCE_ELECTRONS,
)
from selfies.grammar_rules import (
    get_selfies_from_index,
    process_atom_symbol,
    process_branch_symbol,
    process_ring_symbol,
)
from selfies.utils.matching_utils import find_perfect_matching

# One SMILES token: '.', or an optional bond symbol and an atom / branch bracket / ring number. Mirrors
# selfies' tokenizer (any letter is a one-letter atom unless 'Br'/'Cl'; a bracket atom runs to the next
# ']'); ':' and '$' are left out on purpose, so strings holding them are declined.
_TOKEN_TEXT = r"\.|([-=#/\\]?)(\[[^\]]*\]|Br|Cl|[A-Za-z]|[()]|[0-9]|%[0-9][0-9])"
_TOKEN = re.compile(_TOKEN_TEXT)
_WHOLE = re.compile(f"(?:{_TOKEN_TEXT})+")
# selfies.utils.smiles_utils.SMILES_BRACKETED_ATOM_PATTERN
_BRACKET = re.compile(r"^\[(\d*)([A-Za-z][a-z]?)([@]{0,2})((?:[H]\d?)?)((?:[+]+|[-]+|[+-]\d+)?)((?:[:]\d+)?)\]$")
_ORDER = {"": 1, "-": 1, "/": 1, "\\": 1, "=": 2, "#": 3}
_STEREO = {"/": "/", "\\": "\\"}
_PREFIX = {1: "", 2: "=", 3: "#"}
_AROMATIC = 1.5

# atom SMILES symbol -> (element, aromatic, isotope, chirality, h_count or None, charge), or None
_ATOMS: dict[str, tuple | None] = {}
_INDEX: dict[int, list[str]] = {}
_TEXTS: dict[tuple, str] = {}  # (atom, chirality) -> SELFIES atom text
_MAX_CACHED = 1 << 14  # distinct atom symbols kept (a stream of odd isotopes cannot grow it without bound)


def _parse_atom(symbol: str) -> tuple | None:
    """selfies.utils.smiles_utils.smiles_to_atom, as a tuple."""
    if symbol[0] != "[":
        if symbol in ORGANIC_SUBSET:
            return symbol, False, None, None, None, 0
        if symbol in AROMATIC_SUBSET:
            return symbol.capitalize(), True, None, None, None, 0
        return None
    m = _BRACKET.match(symbol)
    if m is None:
        return None
    isotope, element, chirality, h, charge, _ = m.groups()
    aromatic = element.islower() and element in AROMATIC_SUBSET
    element = element.capitalize()
    if element not in ELEMENTS:
        return None
    h_count = 0 if h == "" else (1 if h == "H" else int(h[1:]))
    if charge == "":
        q = 0
    else:
        q = int(charge[1:]) if charge[-1].isdigit() else len(charge)
        q = q if charge[0] == "+" else -q
    return (element, aromatic, None if isotope == "" else int(isotope), chirality or None, h_count, q)


def _atom_text(element: str, isotope, chirality, h_count, charge: int) -> str:
    """selfies.utils.smiles_utils.atom_to_smiles(atom, brackets=False)."""
    if isotope is None and chirality is None and h_count is None and charge == 0:
        return element
    out = "" if isotope is None else str(isotope)
    out += element
    if chirality is not None:
        out += chirality
    if h_count:
        out += f"H{h_count}"
    elif isotope is None and chirality is None and h_count == 0 and charge == 0 and element in ORGANIC_SUBSET:
        out += "H0"
    if charge:
        out += f"{charge:+}"
    return out


def _index_symbols(index: int) -> list[str]:
    q = _INDEX.get(index)
    if q is None:
        q = _INDEX[index] = get_selfies_from_index(index)
    return q


def encoder(smiles: str) -> str | None:
    """``selfies.encoder(smiles, strict=True)`` for the SMILES this module models, else ``None``."""
    try:
        return _encode(smiles)
    except (RecursionError, KeyError, IndexError, ValueError, TypeError):  # anything unmodelled: let selfies decide
        return None


def _encode(smiles: str) -> str | None:  # noqa: C901 - one pass, mirrors selfies' parser step by step
    if not _WHOLE.fullmatch(smiles):
        return None  # a character outside the modelled tokens (or an empty string)
    atoms: list[tuple] = []  # parsed atom tuples (see _ATOMS)
    out: list[list] = []  # out[a] = [[dst, order, stereo, ring], ...] in selfies' out-bond order
    counts: list[float] = []  # bond orders summed per atom (1.5 for a delocalized bond)
    ringed: set[int] = set()  # atoms with a ring bond (selfies' ring-bond flags)
    ds: dict[int, list[int]] = {}  # delocalization subgraph, insertion order as selfies builds it
    arom_bonds: dict[tuple[int, int], list[list]] = {}  # (a<b) -> the bond entries of a 1.5 bond
    roots: list[int] = []
    fragment_start = True
    prev_stack: list[int] = []
    ring_log: dict[str, tuple[int, int, str]] = {}
    prev = -1  # the current chain's previous atom (-1 at a chain start)
    chain_start = True
    cache = _ATOMS
    for bond, body in _TOKEN.findall(smiles):
        if not body:  # '.': close the fragment as selfies does
            if fragment_start or prev_stack or ring_log:
                return None
            fragment_start, chain_start, prev = True, True, -1
            continue
        c = body[0]
        if c >= "A":  # an atom: a letter or '['
            atom = cache.get(body, 0)
            if atom == 0:
                atom = _parse_atom(body)
                if len(cache) < _MAX_CACHED:
                    cache[body] = atom
            if atom is None:
                return None
            idx = len(atoms)
            atoms.append(atom)
            out.append([])
            if atom[1]:
                ds[idx] = []
            if prev < 0:
                if bond or not fragment_start:
                    return None  # selfies ignores a bond symbol before a root atom: not modelled
                counts.append(0)
                roots.append(idx)
                fragment_start = False
            else:
                if bond:
                    order = _ORDER[bond]
                    entry = [idx, order, _STEREO.get(bond), False]
                elif atom[1] and atoms[prev][1]:
                    order = _AROMATIC
                    entry = [idx, order, None, False]
                    ds[prev].append(idx)
                    ds[idx].append(prev)
                    arom_bonds[(prev, idx)] = [entry]
                else:
                    order = 1
                    entry = [idx, 1, None, False]
                out[prev].append(entry)
                counts[prev] += order
                counts.append(order)
            prev = idx
            chain_start = False
        elif c == "(":
            if bond or chain_start:
                return None
            prev_stack.append(prev)
            chain_start = True
        elif c == ")":
            if bond or chain_start or not prev_stack:
                return None
            prev = prev_stack.pop()
        else:  # a ring number
            if chain_start:
                return None
            entry = ring_log.pop(body, None)
            if entry is None:
                out[prev].append(None)
                ring_log[body] = (prev, len(out[prev]) - 1, bond)
                continue
            a, slot, lbond = entry
            b = prev
            lo, hi = (a, b) if a < b else (b, a)
            if a == b or any(e is not None and e[0] == hi for e in out[lo]):
                return None  # selfies: ring bond between already-bonded atoms
            first, second = (lbond, bond) if lbond else (bond, lbond)
            if not (first == second or not second or (first in _STEREO and second in _STEREO)):
                return None  # selfies: mismatched ring bonds
            if not lbond and not bond and atoms[a][1] and atoms[b][1]:
                order = _AROMATIC
            else:
                order = max(_ORDER[lbond], _ORDER[bond])
            a_entry = [b, order, _STEREO.get(lbond), True]
            b_entry = [a, order, _STEREO.get(bond), True]
            out[a][slot] = a_entry
            out[b].append(b_entry)
            counts[a] += order
            counts[b] += order
            ringed.add(a)
            ringed.add(b)
            if order == _AROMATIC:
                ds.setdefault(a, []).append(b)
                ds.setdefault(b, []).append(a)
                arom_bonds[(lo, hi)] = [a_entry, b_entry]
    if fragment_start or prev_stack or ring_log:
        return None
    if ds and not _kekulize(atoms, counts, ds, arom_bonds):
        return None
    texts = []
    for i, atom in enumerate(atoms):
        element, _, isotope, chirality, h_count, charge = atom
        if counts[i] > get_bonding_capacity(element, charge) - (h_count or 0):
            return None  # selfies.encoder(strict=True) raises its own error for this
        if chirality is not None and i in ringed and _odd_permutation(i, out[i]):
            chirality = "@@" if chirality == "@" else "@"
        texts.append(_text(atom, chirality))
    fragments = []
    for root in roots:
        derived: list[str] = []
        _walk(root, None, texts, out, derived)
        fragments.append("".join(derived))
    return ".".join(fragments)


def _text(atom: tuple, chirality) -> str:
    key = (atom, chirality)
    text = _TEXTS.get(key)
    if text is None:
        element, _, isotope, _, h_count, charge = atom
        text = _atom_text(element, isotope, chirality, h_count, charge)
        if len(_TEXTS) < _MAX_CACHED:
            _TEXTS[key] = text
    return text


def _kekulize(atoms, counts, ds, arom_bonds) -> bool:
    """selfies.mol_graph.MolecularGraph.kekulize on the lists."""
    kept = set()
    for node, adj in ds.items():
        if adj:
            atom = atoms[node]
            if atom[4] is None:  # organic-subset aromatic atom (implicit H, no charge): the common case
                if int(counts[node] - 0.5 * len(adj)) not in AROMATIC_VALENCES[atom[0]]:
                    kept.add(node)
            elif not _pruned(atom, counts[node], len(adj)):
                kept.add(node)
    label_to_node = sorted(kept)
    node_to_label = {v: i for i, v in enumerate(label_to_node)}
    pruned = [[node_to_label[adj] for adj in ds[node] if adj in kept] for node in label_to_node]
    matching = find_perfect_matching(pruned)
    if matching is None:
        return False
    for entries in arom_bonds.values():
        for e in entries:
            e[1] = 1
    for node, adj in ds.items():
        counts[node] = int(counts[node] - 0.5 * len(adj))
    for i, j in enumerate(matching):
        if i < j:
            a, b = label_to_node[i], label_to_node[j]
            for e in arom_bonds[(a, b) if a < b else (b, a)]:
                e[1] = 2
            counts[a] += 1
            counts[b] += 1
    return True


def _pruned(atom: tuple, count: float, n_adj: int) -> bool:
    """selfies.mol_graph.MolecularGraph._prune_from_ds."""
    if not n_adj:
        return True
    element, _, _, _, h_count, charge = atom
    valences = AROMATIC_VALENCES[element]
    used = int(count - 0.5 * n_adj)
    if h_count is None:
        if charge != 0:
            raise ValueError("implicit-H aromatic atom with a charge")  # selfies asserts: declined
        return any(used == v for v in valences)
    valence = valences[-1] - charge
    used += h_count
    bound = max(0, charge) + h_count + int(count) + int(2 * (count % 1))
    radical = max(0, VALENCE_ELECTRONS[element] - bound) % 2
    free = valence - used - radical
    if any(used == v - charge for v in valences):
        return True
    return not (free >= 0 and free % 2 != 0)


def _odd_permutation(i: int, bonds: list[list]) -> bool:
    """selfies.encoder._should_invert_chirality."""
    closing, opening, other = [], [], []
    for k, (dst, _, _, ring) in enumerate(bonds):
        if not ring:
            other.append(k)
        elif i < dst:
            opening.append(k)
        else:
            closing.append(k)
    opening.sort(key=lambda k: bonds[k][0])
    perm = closing + opening + other
    count = 0
    for x in range(len(perm)):
        for y in range(x + 1, len(perm)):
            if perm[x] > perm[y]:
                count += 1
    return count % 2 != 0


def _walk(curr: int, into: list | None, texts: list[str], out: list[list], derived: list[str]) -> None:
    """selfies.encoder._fragment_to_selfies without attributions."""
    while True:
        if into is None:
            derived.append(f"[{texts[curr]}]")
        else:
            order = into[1]
            bond = (into[2] or "") if order == 1 else _PREFIX[order]
            derived.append(f"[{bond}{texts[curr]}]")
        bonds = out[curr]
        last = len(bonds) - 1
        nxt = None
        for k, entry in enumerate(bonds):
            dst, order, stereo, ring = entry
            if ring:
                if curr < dst:
                    continue
                q = _index_symbols(curr - dst - 1)
                if order != 1:
                    prefix = _PREFIX[order]
                else:
                    lstereo = _reverse_stereo(out[dst], curr)
                    if lstereo is None and stereo is None:
                        prefix = ""
                    else:
                        prefix = (lstereo or "-") + (stereo or "-")
                derived.append(f"[{prefix}Ring{len(q)}]")
                derived.extend(q)
            elif k == last:
                nxt = entry
            else:
                branch: list[str] = []
                _walk(dst, entry, texts, out, branch)
                q = _index_symbols(len(branch) - 1)
                derived.append(f"[{_PREFIX[order]}Branch{len(q)}]")
                derived.extend(q)
                derived.extend(branch)
        if nxt is None or bonds[-1][3]:
            return
        into, curr = nxt, nxt[0]


def _reverse_stereo(bonds: list[list], dst: int) -> str | None:
    for entry in bonds:
        if entry[0] == dst and entry[3]:
            return entry[2]
    raise KeyError(dst)


# ---------------------------------------------------------------------------------------------- decoder
#
# selfies.decoder: the same derivation (atom/branch/ring states, index symbols, rings formed bilocally at
# the end with their insertion positions) and the same SMILES writer (depth-first over the out-bond lists,
# ring numbers in order of first use), on lists. Declines strings with '.', anything that is not a clean
# sequence of [bracketed] symbols, and any symbol selfies would reject (the caller's selfies.decoder then
# raises its own DecoderError).

_SYMBOL = re.compile(r"\[[^\[\]]*\]")
_SYMBOLS: dict[str, tuple | None] = {}  # symbol -> its meaning (see _classify), for the constraints in force
_SYMBOLS_FOR: list = [None]  # the constraint table _SYMBOLS was filled under


def _classify(symbol: str) -> tuple | None:
    """('b', branch type, index length) | ('r', order, index length, (lstereo, rstereo)) | ('e',) |
    ('n',) for [nop] | ('a', bond order, bond stereo, bonding capacity, SMILES text); None: invalid."""
    if symbol == "[nop]":
        return ("n",)
    tail = symbol[-4:-2]
    if tail == "ch":
        out = process_branch_symbol(symbol)
        return None if out is None else ("b", out[0], out[1])
    if tail == "ng":
        out = process_ring_symbol(symbol)
        return None if out is None else ("r", out[0], out[1], out[2])
    if "eps" in symbol:
        return ("e",)
    out = process_atom_symbol(symbol)
    if out is None:
        return None
    (order, stereo), atom = out
    from selfies.utils.smiles_utils import atom_to_smiles

    return ("a", order, stereo, atom.bonding_capacity, atom_to_smiles(atom))


def _check_constraints() -> None:
    """Forget the symbol meanings when selfies' semantic constraints changed (a capacity can differ)."""
    if _SYMBOLS_FOR[0] is not _constraints._current_constraints:
        _SYMBOLS.clear()
        _SYMBOLS_FOR[0] = _constraints._current_constraints


def _meaning(symbol: str) -> tuple | None:
    meaning = _SYMBOLS.get(symbol, 0)
    if meaning == 0:
        meaning = _classify(symbol)
        if len(_SYMBOLS) < _MAX_CACHED:
            _SYMBOLS[symbol] = meaning
    return meaning


def is_atom_symbol(symbol: str) -> bool:
    """``selfies.grammar_rules.process_atom_symbol(symbol) is not None`` (an atom symbol selfies can decode
    under the current constraints), answered from the decoder's per-symbol cache."""
    if _SYMBOLS_FOR[0] is not _constraints._current_constraints:
        _check_constraints()
    meaning = _SYMBOLS.get(symbol, 0)
    if meaning == 0:
        meaning = _meaning(symbol)
    if meaning is not None and meaning[0] == "a":
        return True
    return process_atom_symbol(symbol) is not None


def decoder(selfies: str) -> str | None:
    """``selfies.decoder(selfies)`` for a '.'-free string of [bracketed] symbols, else ``None``."""
    try:
        if not isinstance(selfies, str) or "." in selfies:
            return None
        symbols = _SYMBOL.findall(selfies)
        if sum(map(len, symbols)) != len(selfies):
            return None
        _check_constraints()
        meanings, kept = [], []
        for sym in symbols:
            meaning = _meaning(sym)
            if meaning is None:
                return None
            if meaning[0] != "n":  # selfies' tokenizer skips [nop] before anything reads the symbols
                meanings.append(meaning)
                kept.append(sym)
        return _Derivation(meanings, kept).smiles()
    except (RecursionError, KeyError, IndexError, ValueError, TypeError):
        return None


class _Derivation:
    def __init__(self, meanings: list[tuple], symbols: list[str]):
        self.meanings = meanings
        self.symbols = symbols
        self.i = 0
        self.text: list[str] = []  # atom SMILES
        self.cap: list[int] = []
        self.counts: list[int] = []
        self.out: list[list] = []  # [dst, order, stereo, ring] per out-bond
        self.bonds: dict[tuple[int, int], list] = {}  # (src, dst) -> entry (both directions for rings)
        self.roots: list[int] = []
        self.rings: list[tuple] = []
        self.derive(float("inf"), 0, -1)
        self.form_rings()

    def index(self, n: int) -> int:
        """selfies.decoder._read_index_from_selfies: the next n symbols as a base-16 number."""
        value = 0
        for _ in range(n):
            code = 0  # a missing symbol (end of string) counts as 0
            if self.i < len(self.symbols):
                code = INDEX_CODE.get(self.symbols[self.i], 0)
                self.i += 1
            value = value * len(INDEX_CODE) + code
        return value

    def derive(self, max_derive, state, prev: int) -> int:  # noqa: C901 - selfies' four cases
        meanings = self.meanings
        n = 0
        while state is not None and n < max_derive:
            if self.i >= len(meanings):
                break
            m = meanings[self.i]
            self.i += 1
            n += 1
            kind = m[0]
            if kind == "b":
                if state <= 1:
                    next_state = state
                else:
                    binit = min(state - 1, m[1])
                    next_state = state - binit
                    q = self.index(m[2])
                    n += m[2] + self.derive(q + 1, binit, prev)
            elif kind == "r":
                if state == 0:
                    next_state = state
                else:
                    order = min(m[1], state)
                    left = state - order
                    next_state = None if left == 0 else left
                    q = self.index(m[2])
                    n += m[2]
                    self.rings.append((max(0, prev - (q + 1)), prev, order, m[3]))
            elif kind == "e":
                next_state = 0 if state == 0 else None
            else:
                _, sym_order, stereo, cap, text = m
                order = 0 if state == 0 else min(sym_order, state, cap)
                left = cap - order
                next_state = None if left == 0 else left
                if order == 0:
                    if state == 0:
                        prev = self.add_atom(text, cap)
                        self.roots.append(prev)
                    else:
                        prev = -2  # selfies drops the atom (no capacity left to bond it): never used again
                else:
                    idx = self.add_atom(text, cap)
                    entry = [idx, order, stereo, False]
                    self.out[prev].append(entry)
                    self.bonds[(prev, idx)] = entry
                    self.counts[prev] += order
                    self.counts[idx] += order
                    prev = idx
            if next_state is None:
                break
            state = next_state
        while n < max_derive and self.i < len(meanings):  # consume the rest of this branch's symbols
            self.i += 1
            n += 1
        return n

    def add_atom(self, text: str, cap: int) -> int:
        self.text.append(text)
        self.cap.append(cap)
        self.counts.append(0)
        self.out.append([])
        return len(self.text) - 1

    def form_rings(self) -> None:
        """selfies.decoder._form_rings_bilocally."""
        made = [0] * len(self.text)
        cap, counts, bonds, out = self.cap, self.counts, self.bonds, self.out
        for a, b, order, (lstereo, rstereo) in self.rings:
            if a == b:
                continue
            afree, bfree = cap[a] - counts[a], cap[b] - counts[b]
            if afree <= 0 or bfree <= 0:
                continue
            order = min(order, afree, bfree)
            existing = bonds.get((a, b))
            if existing is not None:
                new = min(order + existing[1], 3)
                if new != existing[1]:
                    counts[a] += new - existing[1]
                    counts[b] += new - existing[1]
                    existing[1] = new
                    if existing[3]:
                        bonds[(b, a)][1] = new
                continue
            a_entry = [b, order, lstereo, True]
            b_entry = [a, order, rstereo, True]
            for src, entry, pos in ((a, a_entry, made[a]), (b, b_entry, made[b])):
                edges = out[src]
                if pos == len(edges):
                    edges.append(entry)
                else:
                    edges.insert(pos, entry)
            bonds[(a, b)] = a_entry
            bonds[(b, a)] = b_entry
            counts[a] += order
            counts[b] += order
            made[a] += 1
            made[b] += 1

    def smiles(self) -> str:
        """selfies.utils.smiles_utils.mol_to_smiles (depth-first, ring numbers in order of first use)."""
        out, text = self.out, self.text
        ring_log: dict[tuple[int, int], int] = {}
        fragments = []
        for root in self.roots:
            derived: list[str] = []
            stack = [[root, 0, False]]
            while stack:
                top = stack[-1]
                curr, k, closing = top
                if k == 0:
                    derived.append(text[curr])
                edges = out[curr]
                if k < len(edges):
                    dst, order, stereo, ring = edges[k]
                    top[1] = k + 1
                    bond = (stereo if stereo in _STEREO else "") if order == 1 else _PREFIX[order]
                    if ring:
                        derived.append(bond)
                        ends = (curr, dst) if curr < dst else (dst, curr)
                        rnum = ring_log.setdefault(ends, len(ring_log) + 1)
                        derived.append(f"%{rnum}" if rnum >= 10 else str(rnum))
                    else:
                        last = k == len(edges) - 1
                        if not last:
                            derived.append("(")
                        derived.append(bond)
                        stack.append([dst, 0, not last])
                else:
                    stack.pop()
                    if closing:
                        derived.append(")")
            fragments.append("".join(derived))
        return ".".join(fragments)



def encode(smiles: str) -> str:
    """``selfies.encoder(smiles, strict=True)``: the fast path, or selfies itself where it declines (which
    then returns the answer or raises its own EncoderError with the reason)."""
    fast = encoder(smiles)
    if fast is not None:
        return fast
    import selfies as sf

    return sf.encoder(smiles, strict=True)


def decode(selfies: str) -> str:
    """``selfies.decoder(selfies)``: the fast path, or selfies itself where it declines (which raises
    DecoderError for what it cannot decode)."""
    fast = decoder(selfies)
    if fast is not None:
        return fast
    import selfies as sf

    return sf.decoder(selfies)
