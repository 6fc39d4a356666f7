"""Property oracles for optimisation and property-conditioned metrics.

RDKit-computable properties are built in. Learned predictors (ESOL solubility, BBBP, hERG, the QM9
property classifier of the conditional-generation protocol) are weights this package does not ship: they
are registered at run time with :func:`register_property` and metrics that need a missing one report
``not_computed`` naming it.
"""

from __future__ import annotations

from typing import Callable

from biomatrix_plugin.errors import BioMatrixError

PropertyFn = Callable[[object], float]  # RDKit Mol -> value


class PropertyUnavailable(BioMatrixError, LookupError):
    pass


def _rdkit_properties() -> dict[str, PropertyFn]:
    from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors

    return {
        "logp": Crippen.MolLogP,
        "mr": Crippen.MolMR,
        "qed": QED.qed,
        "tpsa": rdMolDescriptors.CalcTPSA,
        "mw": Descriptors.MolWt,
        "hba": rdMolDescriptors.CalcNumHBA,  # Lipinski-style acceptor count (RDKit NumHAcceptors)
        "hbd": rdMolDescriptors.CalcNumHBD,
        "rotatable_bonds": rdMolDescriptors.CalcNumRotatableBonds,
        "rings": rdMolDescriptors.CalcNumRings,
    }


ALIASES = {"acceptor": "hba", "acceptors": "hba", "donor": "hbd", "donors": "hbd", "molar_refractivity": "mr",
           "weight": "mw", "solubility": "esol", "herg": "herg", "bbbp": "bbbp"}
_REGISTERED: dict[str, PropertyFn] = {}


def canonical_name(name: str) -> str:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return ALIASES.get(key, key)


def register_property(name: str, fn: PropertyFn | None) -> None:
    """Make a learned predictor available (``fn(mol) -> float``); ``None`` removes it."""
    key = canonical_name(name)
    if fn is None:
        _REGISTERED.pop(key, None)
    else:
        _REGISTERED[key] = fn


def get_property(name: str) -> PropertyFn:
    key = canonical_name(name)
    if key in _REGISTERED:
        return _REGISTERED[key]
    builtin = _rdkit_properties()
    if key in builtin:
        return builtin[key]
    raise PropertyUnavailable(
        f"property {name!r} has no oracle here: built in are {', '.join(sorted(builtin))}; learned predictors "
        "(ESOL, BBBP, hERG, QM9 property classifiers) must be registered with "
        "biomatrix_plugin.eval.properties.register_property()"
    )
