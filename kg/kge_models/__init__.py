"""The KG-embedding models this project scores, trains and places entities with, by name.

One model per module, each a :class:`~kg.kge_models.base.KGEScorer`. Names are PyKEEN's
class names (``"TransE"``, ``"ComplEx"``), so the same name picks the model in PyKEEN's
``model_resolver`` for training and here for everything else. :func:`kge_model` looks one up
the way PyKEEN's resolver does: case-insensitive, ignoring ``-``, ``_``, spaces and a
trailing ``Model``.

Adding a model: a module beside these with one class implementing the protocol, an entry
in ``KGE_MODELS``, and a case in ``tests/contracts/test_kge_model.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from kg.kge_models.base import KGEScorer, PyKEENExport
from kg.kge_models.complex import ComplEx
from kg.kge_models.transe import TransE

__all__ = [
    "KGE_MODELS",
    "ComplEx",
    "KGEScorer",
    "PyKEENExport",
    "TransE",
    "kge_model",
    "normalize_model_name",
]


def normalize_model_name(name: str) -> str:
    """PyKEEN's resolver key for ``name``: ``"TransE"``, ``"trans_e"``, ``"TransEModel"``
    all give ``"transe"``."""
    key = name.lower().replace("-", "").replace("_", "").replace(" ", "")
    return key.removesuffix("model") or key


#: Every registered model class by canonical (PyKEEN) name, in a stable order.
KGE_MODELS: Mapping[str, type[KGEScorer]] = MappingProxyType(
    {model.name: model for model in (TransE, ComplEx)}
)
_BY_KEY: Mapping[str, type[KGEScorer]] = {
    normalize_model_name(name): model for name, model in KGE_MODELS.items()
}


def kge_model(name: str) -> type[KGEScorer]:
    """The registered model called ``name`` (see :func:`normalize_model_name`); a
    ``ValueError`` naming the registered models for anything else."""
    model = _BY_KEY.get(normalize_model_name(name)) if isinstance(name, str) else None
    if model is None:
        raise ValueError(f"unknown KGE model {name!r}; registered models: {', '.join(KGE_MODELS)}")
    return model
