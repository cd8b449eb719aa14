"""What every recommender model offers, and the interaction data they learn from.

Shaped like the ``implicit`` library's base class, so that models swap without touching
the caller: a sparse user x item matrix in, dense score rows out. Ids are strings
everywhere outside this module; rows and columns are positions in :class:`Interactions`.

A model scores *every* item for a user (``user_scores``) or for an item (``item_scores``,
"similar items"): evaluation ranks all unseen items, and fusion reads the scores of the
candidates it was handed. ``NaN`` marks "no opinion" (e.g. an item a collaborative model
never saw); a model never scores an unknown item as 0 silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

__all__ = ["Interactions", "ItemGraph", "Recommender", "Scores"]

Scores = npt.NDArray[np.float64]  # (rows, n_items); NaN = the model has no opinion


@dataclass(frozen=True)
class Interactions:
    """Implicit feedback: ``matrix[u, i]`` is the confidence that user ``users[u]`` likes
    item ``items[i]`` (summed event weights, listen counts...); 0 = no interaction.

    ``items`` lists every item that can be recommended, including cold ones (no
    interaction yet): their columns are empty. ``times``, when given, has the same shape
    and holds the time (epoch seconds) of each pair's latest interaction, for models that
    decay old behaviour."""

    users: tuple[str, ...]
    items: tuple[str, ...]
    matrix: csr_matrix
    times: csr_matrix | None = None
    user_index: Mapping[str, int] = field(init=False, repr=False)
    item_index: Mapping[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.matrix.shape != (len(self.users), len(self.items)):
            raise ValueError(
                f"matrix shape {self.matrix.shape} does not match "
                f"{len(self.users)} users x {len(self.items)} items"
            )
        if self.times is not None and self.times.shape != self.matrix.shape:
            raise ValueError(f"times shape {self.times.shape} != matrix shape {self.matrix.shape}")
        for name, ids in (("user", self.users), ("item", self.items)):
            if len(set(ids)) != len(ids):
                raise ValueError(f"duplicate {name} ids")
        object.__setattr__(self, "user_index", {u: i for i, u in enumerate(self.users)})
        object.__setattr__(self, "item_index", {p: i for i, p in enumerate(self.items)})


@dataclass(frozen=True)
class ItemGraph:
    """The knowledge graph around the items: ``(head, relation, tail)`` triples over
    entity ids, and which entity each item is (items absent from ``item_entities`` have
    no node in the graph)."""

    triples: Sequence[tuple[str, str, str]]
    item_entities: Mapping[str, str]


@runtime_checkable
class Recommender(Protocol):
    """One recommendation model. Construct with typed keyword-only hyperparameters, then
    :meth:`fit`; scoring before fitting raises ``RuntimeError``."""

    #: registry name ("als", "bpr", "itemknn", "popularity", "kg", ...)
    name: ClassVar[str]

    def fit(self, interactions: Interactions, *, graph: ItemGraph | None = None) -> Self:
        """Learn from ``interactions`` (and the item graph, for models that use it)."""
        ...

    def user_scores(self, users: Sequence[int]) -> Scores:
        """Scores of every item for each user row (already-seen items are not masked:
        the caller decides what to exclude)."""
        ...

    def item_scores(self, items: Sequence[int]) -> Scores:
        """Similarity of every item to each item row ("similar items"); the item itself
        included (the caller drops it)."""
        ...

    def params(self) -> dict[str, Any]:
        """The hyperparameters, to record beside the results."""
        ...
