"""MolStrucTok encode (3D molecule -> joint tokens + codes) and decode (joint tokens -> 3D molecule).

Both directions work on lists: the per-molecule RDKit/SELFIES work is a plain loop, the geometry is
vectorized over all atoms of all molecules, and the network runs once per call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from biomatrix_plugin.mol3d.checkpoint import require_checkpoint
from biomatrix_plugin.mol3d.errors import Mol3DError
from biomatrix_plugin.mol3d.fast_selfies import kekule_smiles_to_tokens, smiles_focus
from biomatrix_plugin.mol3d.geometry import (
    batch_frames,
    check_focus,
    denormalize,
    focus_from_adjacency,
    generation_descriptors,
    normalize,
    reconstruct,
)
from biomatrix_plugin.mol3d.joint_tokens import (
    atom_symbol_mask,
    atom_symbol_mask_by_decoder,
    build_struct_sfi,
    decode_symbols,
    split_symbols,
)
from biomatrix_plugin.mol3d.model import MolStrucTokVQVAE, load_vqvae

DEFAULT_MAX_ATOMS = 256  # explicit hydrogens included


def default_checkpoint() -> Path:
    """The checkpoint found by :func:`require_checkpoint` (kept for existing callers)."""
    return require_checkpoint()


@dataclass
class EncodedMol:
    """One molecule's tokens. ``error`` is set (and the rest empty) when it was rejected."""

    struct_sfi: str = ""
    codes: list[int] = field(default_factory=list)
    smiles: str = ""  # the canonical kekulé non-isomeric SMILES whose atom order the tokens follow
    # Input atom index of each token-order atom (indices after implicit hydrogens were added, if any).
    atom_order: list[int] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    isotopes_dropped: int = 0  # atoms whose isotope label the non-isomeric token order dropped

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _Prepared:
    symbols: list[str]
    mask: list[bool]
    smiles: str
    order: np.ndarray
    pos: np.ndarray
    focus: np.ndarray | list[int]  # local; c1/c2 follow from it (batch_frames)
    isotopes: list[str] = field(default_factory=list)


def _label(record: str | int | None) -> str:
    return "" if record is None or record == "" else f"record {record}: "


def check_3d(mol, record: str | int | None = None, max_atoms: int = DEFAULT_MAX_ATOMS) -> np.ndarray:
    """Raise Mol3DError unless ``mol`` is one fragment with a 3D conformer and at most ``max_atoms``;
    return the conformer's (atoms, 3) positions."""
    from rdkit import Chem

    where = _label(record)
    if mol is None:
        raise Mol3DError(f"{where}RDKit could not read the molecule")
    n = mol.GetNumAtoms()
    if n == 0:
        raise Mol3DError(f"{where}molecule has no atoms")
    if n > max_atoms:
        raise Mol3DError(f"{where}{n} atoms (hydrogens included) exceed the limit of {max_atoms}")
    if mol.GetNumConformers() == 0:
        raise Mol3DError(f"{where}no conformer (embed one first, e.g. --embed)")
    conf = mol.GetConformer()
    pos = conf.GetPositions()
    if not conf.Is3D() or (n > 3 and np.all(pos[:, 2] == 0.0)):
        raise Mol3DError(f"{where}conformer is 2D; MolStrucTok needs 3D coordinates (or use --embed)")
    if not np.all(np.isfinite(pos)):
        raise Mol3DError(f"{where}conformer has non-finite coordinates")
    n_frags = len(Chem.GetMolFrags(mol))
    if n_frags > 1:
        raise Mol3DError(f"{where}{n_frags} disconnected fragments (salt or mixture); "
                         "tokenize one fragment at a time")
    return pos


def _needs_hydrogens(mol) -> bool:
    """True for a heavy-atom-only molecule with implicit hydrogens: those get hydrogen atoms (with
    coordinates) so that every hydrogen has a code. A molecule that already has hydrogen atoms is taken as
    it is, as the reference does: an atom whose hydrogens are only a count (a molblock giving Cu two
    implicit hydrogens) stays one bracket symbol, ``[CuH2 171]``, instead of gaining ``[H]`` atoms."""
    if mol.HasSubstructMatch(_query("[#1]")):
        return False
    # GetTotalNumHs counts implicit plus 'explicit count' hydrogens, not hydrogen atoms in the graph.
    return any(a.GetTotalNumHs() for a in mol.GetAtoms())


ISOTOPE_POLICIES = ("warn", "reject")


@lru_cache(maxsize=None)
def _query(smarts: str):
    from rdkit import Chem

    return Chem.MolFromSmarts(smarts)


def _isotope_labels(mol) -> list[str]:
    # one substructure match in C++ (~6 us) instead of a Python loop over the atoms (~300 us a molecule)
    if not mol.HasSubstructMatch(_query("[!0*]")):
        return []
    return [f"[{a.GetIsotope()}{a.GetSymbol()}]" for a in mol.GetAtoms() if a.GetIsotope()]


def _isotope_message(labels: list[str]) -> str:
    counts = {lab: labels.count(lab) for lab in dict.fromkeys(labels)}
    listed = ", ".join(f"{lab} x{n}" if n > 1 else lab for lab, n in counts.items())
    return (f"isotope labels {listed}: MolStrucTok's atom order is non-isomeric, so the tokens do not keep "
            "them ([2H] becomes [H])")


def embed_3d(mol_or_smiles, seed: int = 42, mmff: bool = True, max_atoms: int | None = None,
             max_heavy_atoms: int | None = None, max_chars: int | None = None):
    """ETKDG conformer (+ MMFF) with explicit hydrogens, for input without 3D coordinates.

    Size limits are checked before RDKit reads a SMILES (``max_chars``, ``max_heavy_atoms``, counted from
    the string) and before ETKDG runs (``max_atoms``, hydrogens included): a 2,000-carbon chain would
    embed for minutes. ``None`` keeps the shared SMILES defaults and no hydrogen-inclusive limit."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from biomatrix_plugin.modalities.serialization import SerializationError, check_smiles_size

    if isinstance(mol_or_smiles, str):
        try:
            check_smiles_size(mol_or_smiles, max_chars, max_heavy_atoms)
        except SerializationError as exc:
            raise Mol3DError(str(exc)) from None
        mol = Chem.MolFromSmiles(mol_or_smiles)
    else:
        mol = Chem.Mol(mol_or_smiles)
    if mol is None:
        raise Mol3DError(f"SMILES {mol_or_smiles!r}: RDKit cannot parse it")
    _check_embed_size(mol, max_atoms, max_heavy_atoms)
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    try:
        status = AllChem.EmbedMolecule(mol, params)
    except RuntimeError as exc:  # RDKit invariant violations (e.g. bad bounds matrix) on odd valences
        first = str(exc).strip().splitlines()[:2]
        raise Mol3DError(f"{Chem.MolToSmiles(Chem.RemoveHs(mol))}: ETKDG failed ({' '.join(first)})") from exc
    if status != 0:
        raise Mol3DError(f"{Chem.MolToSmiles(Chem.RemoveHs(mol))}: ETKDG could not embed a conformer")
    if mmff:
        try:
            AllChem.MMFFOptimizeMolecule(mol)
        except Exception:  # no MMFF parameters for an element: keep the ETKDG geometry
            pass
    return mol


def _check_embed_size(mol, max_atoms: int | None, max_heavy_atoms: int | None) -> None:
    heavy = sum(a.GetAtomicNum() != 1 for a in mol.GetAtoms())
    if max_heavy_atoms is not None and heavy > max_heavy_atoms:
        raise Mol3DError(f"{heavy} heavy atoms exceed the embedding limit of {max_heavy_atoms} "
                         "(--max-embed-atoms)")
    total = mol.GetNumAtoms() + sum(a.GetTotalNumHs() for a in mol.GetAtoms())
    if max_atoms is not None and total > max_atoms:
        raise Mol3DError(f"{total} atoms with hydrogens exceed the limit of {max_atoms} (--max-atoms); "
                         "not embedded")


def prepare_mol(mol, record=None, max_atoms: int = DEFAULT_MAX_ATOMS, add_hydrogens: bool = True,
                isotopes: str = "warn") -> _Prepared:
    """Validate one molecule and put it in token order (canonical kekulé non-isomeric SMILES output order)."""
    import selfies as sf
    from rdkit import Chem

    where = _label(record)
    pos = check_3d(mol, record, max_atoms)
    labels = _isotope_labels(mol)
    if labels and isotopes == "reject":
        raise Mol3DError(f"{where}{_isotope_message(labels)}; rejected (--isotopes reject)")
    if add_hydrogens and _needs_hydrogens(mol):
        mol = Chem.AddHs(mol, addCoords=True)
        if mol.GetNumAtoms() > max_atoms:
            raise Mol3DError(f"{where}{mol.GetNumAtoms()} atoms with hydrogens exceed the limit of "
                             f"{max_atoms}")
        pos = mol.GetConformer().GetPositions()
    smiles = Chem.MolToSmiles(mol, canonical=True, kekuleSmiles=True, isomericSmiles=False)
    order = np.asarray(json.loads(mol.GetProp("_smilesAtomOutputOrder").replace(",]", "]")),
                       dtype=np.int64)
    n = mol.GetNumAtoms()
    fast = kekule_smiles_to_tokens(smiles)
    focus = None
    if fast is not None:
        symbols, mask, focus = fast
        if len(focus) != n:
            raise Mol3DError(f"{where}SELFIES of {smiles} has {len(focus)} atom symbols for {n} atoms")
        # the parser's bonds are RDKit's bonds in token order; atoms 1 and 2 have fixed foci
        if n > 1:
            focus[1] = 0
        if n > 2:
            focus[2] = 1
        check_focus(focus, where)
    else:
        try:
            selfies = sf.encoder(smiles)
        except Exception as exc:  # selfies.EncoderError: element, charge or valence it cannot express
            raise Mol3DError(f"{where}SELFIES cannot express {smiles}: {exc}") from exc
        if selfies is None:
            raise Mol3DError(f"{where}SELFIES cannot express {smiles}")
        symbols = split_symbols(selfies)
        mask = atom_symbol_mask(symbols)
        if sum(mask) != n:
            mask = atom_symbol_mask_by_decoder(selfies, len(symbols))
        if sum(mask) != n:
            raise Mol3DError(f"{where}SELFIES of {smiles} has {sum(mask)} atom symbols for {n} atoms")
        focus = focus_from_adjacency(Chem.GetAdjacencyMatrix(mol)[np.ix_(order, order)], where)
        check_focus(focus, where)
    return _Prepared(symbols, mask, smiles, order, pos[order], focus, labels)


def batch_descriptors(prepared: Sequence[_Prepared]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw (atoms, 4) descriptors of many prepared molecules, with each molecule's start and size."""
    sizes = np.array([len(p.pos) for p in prepared], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    offset = np.repeat(starts, sizes)
    local = np.arange(sizes.sum()) - offset
    pos = np.concatenate([p.pos for p in prepared])
    focus = np.fromiter((f for p in prepared for f in p.focus), dtype=np.int64, count=len(local)) + offset
    c1, c2 = batch_frames(focus, local, offset)
    return generation_descriptors(pos, local, focus, c1, c2), starts, sizes


class MolStrucTok:
    """Encoder/decoder bound to one checkpoint. Thread count is left to the caller (torch default)."""

    def __init__(self, checkpoint: str | Path | None = None, max_atoms: int = DEFAULT_MAX_ATOMS,
                 add_hydrogens: bool = True, model: MolStrucTokVQVAE | None = None, isotopes: str = "warn"):
        if isotopes not in ISOTOPE_POLICIES:
            raise ValueError(f"isotopes must be one of {ISOTOPE_POLICIES}, got {isotopes!r}")
        self.isotopes = isotopes
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.model = model if model is not None else load_vqvae(require_checkpoint(checkpoint))
        self.model.eval()
        self.max_atoms = max_atoms
        self.add_hydrogens = add_hydrogens
        self._table: np.ndarray | None = None

    # ------------------------------------------------------------------ encode
    def encode_mols(self, mols: Sequence, records: Sequence | None = None,
                    on_error: str = "raise") -> list[EncodedMol]:
        """Encode RDKit molecules (explicit or implicit H; the first conformer is used, and it must be 3D).

        ``on_error="raise"`` raises :class:`Mol3DError` on the first bad molecule; ``"record"`` returns
        an :class:`EncodedMol` with ``error`` set in its place. ``records`` names molecules in messages
        (default: their position)."""
        if on_error not in ("raise", "record"):
            raise ValueError("on_error must be 'raise' or 'record'")
        names = list(records) if records is not None else list(range(len(mols)))
        results: list[EncodedMol] = [EncodedMol() for _ in mols]
        prepared: list[tuple[int, _Prepared]] = []
        for i, mol in enumerate(mols):
            try:
                prepared.append((i, prepare_mol(mol, names[i], self.max_atoms, self.add_hydrogens,
                                                self.isotopes)))
            except Mol3DError as exc:
                if on_error == "raise":
                    raise
                results[i].error = str(exc)
        if not prepared:
            return results
        desc, starts, sizes = batch_descriptors([p for _, p in prepared])
        finite = np.isfinite(desc).all(1)
        codes = self.model.encode(normalize(np.where(finite[:, None], desc, 0.0))).numpy()
        for k, (i, p) in enumerate(prepared):
            s, e = starts[k], starts[k] + sizes[k]
            if not finite[s:e].all():
                bad = int(np.argmin(finite[s:e]))
                msg = (f"{_label(names[i])}atom {bad} (token order) has a degenerate reference frame "
                       "(its focus and reference atoms are collinear or coincide)")
                if on_error == "raise":
                    raise Mol3DError(msg)
                results[i].error = msg
                continue
            mol_codes = codes[s:e].tolist()
            results[i] = EncodedMol(build_struct_sfi(p.symbols, p.mask, mol_codes), mol_codes,
                                    p.smiles, p.order.tolist(),
                                    warnings=[_isotope_message(p.isotopes)] if p.isotopes else [],
                                    isotopes_dropped=len(p.isotopes))
        return results

    def encode_mol(self, mol, record=None) -> EncodedMol:
        return self.encode_mols([mol], None if record is None else [record])[0]

    # ------------------------------------------------------------------ decode
    def code_table(self) -> np.ndarray:
        """(n_codes, 4) de-normalized (d, theta, |phi|, sign) of every codebook entry."""
        if self._table is None:
            with torch.no_grad():
                n = self.model.quantizer.n_codes
                mu, sign = self.model.decode_codes(torch.arange(n))
            self._table = denormalize(mu, sign)
        return self._table

    def decode_many(self, struct_sfis: Sequence[str], mmff: bool = False, assign_stereo: bool = True,
                    records: Sequence | None = None, on_error: str = "raise") -> list:
        """Joint-token strings (bare or wrapped) -> RDKit molecules with one 3D conformer, atoms in token
        order, hydrogens explicit. Rejected strings give ``Mol3DError`` or, with ``on_error="record"``,
        the error message (a ``str``) in their place."""
        from rdkit import Chem

        if on_error not in ("raise", "record"):
            raise ValueError("on_error must be 'raise' or 'record'")
        names = list(records) if records is not None else list(range(len(struct_sfis)))
        table = self.code_table()
        results: list = [None] * len(struct_sfis)
        mols, code_lists, refs, keep = [], [], [], []
        for i, text in enumerate(struct_sfis):
            where = _label(names[i])
            try:
                _, codes, smiles = decode_symbols(text, where.rstrip(": "))
                if max(codes) >= len(table):
                    raise Mol3DError(f"{where}code {max(codes)} outside this checkpoint's 0-{len(table) - 1}")
                mol = Chem.MolFromSmiles(smiles, sanitize=False) if smiles else None
                if mol is None:
                    raise Mol3DError(f"{where}SELFIES decodes to {smiles!r}, which RDKit cannot read")
                try:
                    Chem.SanitizeMol(mol)
                except Exception:  # keep the graph; coordinates do not need sanitization
                    pass
                if mol.GetNumAtoms() != len(codes):
                    raise Mol3DError(f"{where}{len(codes)} atom codes but the tokens decode to "
                                     f"{mol.GetNumAtoms()} atoms")
                refs.append(_decoded_focus(smiles, mol, where))
            except Mol3DError as exc:
                if on_error == "raise":
                    raise
                results[i] = str(exc)
                continue
            mols.append(mol)
            code_lists.append(np.asarray(codes, dtype=np.int64))
            keep.append(i)
        if not mols:
            return results
        sizes = np.array([len(c) for c in code_lists], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        offset = np.repeat(starts, sizes)
        focus = np.fromiter((f for r in refs for f in r), dtype=np.int64, count=len(offset)) + offset
        c1, c2 = batch_frames(focus, np.arange(len(offset)) - offset, offset)
        with np.errstate(invalid="ignore", divide="ignore"):
            pos = reconstruct(table[np.concatenate(code_lists)], starts, sizes, focus, c1, c2)
        for k, (i, mol) in enumerate(zip(keep, mols)):
            p = pos[starts[k]:starts[k] + sizes[k]]
            if not np.isfinite(p).all():
                msg = f"{_label(names[i])}reconstruction hit a degenerate frame (collinear reference atoms)"
                if on_error == "raise":
                    raise Mol3DError(msg)
                results[i] = msg
                continue
            results[i] = _finish(mol, p, mmff, assign_stereo)
        return results

    def decode(self, struct_sfi: str, mmff: bool = False, assign_stereo: bool = True):
        return self.decode_many([struct_sfi], mmff=mmff, assign_stereo=assign_stereo)[0]


def _decoded_focus(smiles: str, mol, where: str) -> list[int] | np.ndarray:
    """The foci of a decoded molecule's atoms (RDKit's atom order = the SMILES' order), read off the
    SMILES when it is one plain fragment, else off RDKit's adjacency matrix; raises like reference_atoms."""
    from rdkit import Chem

    focus = smiles_focus(smiles)
    if focus is None or len(focus) != mol.GetNumAtoms():
        focus = focus_from_adjacency(Chem.GetAdjacencyMatrix(mol), where)
    else:
        if len(focus) > 1:
            focus[1] = 0
        if len(focus) > 2:
            focus[2] = 1
    check_focus(focus, where)
    return focus


def _finish(mol, pos: np.ndarray, mmff: bool, assign_stereo: bool):
    from rdkit import Chem
    from rdkit.Chem import AllChem

    conf = Chem.Conformer(mol.GetNumAtoms())
    conf.Set3D(True)
    conf.SetPositions(np.ascontiguousarray(pos, dtype=np.float64))
    mol.RemoveAllConformers()
    mol.AddConformer(conf, assignId=True)
    if mmff:
        try:
            AllChem.MMFFOptimizeMolecule(mol)
        except Exception:  # missing MMFF parameters: keep the decoded geometry
            pass
    if assign_stereo:
        try:
            Chem.AssignStereochemistryFrom3D(mol)
        except Exception:
            pass
    return mol


# ---------------------------------------------------------------------- module-level API

@lru_cache(maxsize=4)
def get_tokenizer(checkpoint: str | None = None) -> MolStrucTok:
    """A cached :class:`MolStrucTok` for ``checkpoint`` (default: :func:`default_checkpoint`)."""
    return MolStrucTok(checkpoint)


def encode_mols(mols: Sequence, checkpoint: str | None = None, on_error: str = "raise") -> list[EncodedMol]:
    return get_tokenizer(checkpoint).encode_mols(mols, on_error=on_error)


def encode_mol(mol, checkpoint: str | None = None) -> EncodedMol:
    return get_tokenizer(checkpoint).encode_mol(mol)


def decode(struct_sfi: str, mmff: bool = False, assign_stereo: bool = True, checkpoint: str | None = None):
    return get_tokenizer(checkpoint).decode(struct_sfi, mmff=mmff, assign_stereo=assign_stereo)


def decode_many(struct_sfis: Sequence[str], mmff: bool = False, assign_stereo: bool = True,
                checkpoint: str | None = None, on_error: str = "raise") -> list:
    return get_tokenizer(checkpoint).decode_many(struct_sfis, mmff=mmff, assign_stereo=assign_stereo,
                                                 on_error=on_error)


def mol_to_wrapped_3d(mol, checkpoint: str | None = None) -> str:
    """``<|mol_3d_start|>[H 3][C 0]...<|mol_3d_end|>`` for one 3D molecule (raises Mol3DError)."""
    from biomatrix_plugin.modalities.serialization import wrap_mol3d

    return wrap_mol3d(encode_mol(mol, checkpoint).struct_sfi)
