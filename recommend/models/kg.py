"""KG-aware recommender: a collaborative knowledge graph embedded with PyKEEN.

As in CKE / KGAT, users enter the item graph: every training interaction becomes a triple
``(user:<id>, interacts_with, <item entity>)`` beside the graph's own triples, and TransE or
ComplEx (chosen by PyKEEN's name, trained through :mod:`kg.kge_training` inside
:func:`kg.reproducible.reproducible`) places users, items, artists' origins, genres... in one
space. A user's score for an item is the plausibility of ``(user, interacts_with, item)``;
"similar items" is the cosine of item vectors. A cold item (no interaction) still has a
vector through its graph triples, so it gets an opinion; a user or item absent from the
collaborative graph gets NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from recommend.base import Interactions, ItemGraph, Scores
from recommend.models._common import (
    check_choice,
    check_positive,
    check_positive_int,
    cosine_rows,
    not_fitted,
)

if TYPE_CHECKING:
    from kg.kge import KGEmbeddings

__all__ = ["INTERACTS_WITH", "KGEmbeddingRecommender", "collaborative_triples"]

INTERACTS_WITH = "interacts_with"
_MODELS = ("TransE", "ComplEx")
_USER_BLOCK = 32


def user_node(user: str) -> str:
    return f"user:{user}"


def item_node(item: str, graph: ItemGraph) -> str:
    return graph.item_entities.get(item, f"item:{item}")


def collaborative_triples(
    interactions: Interactions, graph: ItemGraph
) -> list[tuple[str, str, str]]:
    """The item graph's triples plus ``(user:<id>, interacts_with, item)`` per pair."""
    if any(relation == INTERACTS_WITH for _, relation, _ in graph.triples):
        raise ValueError(f"the item graph already uses the relation {INTERACTS_WITH!r}")
    matrix = interactions.matrix.tocoo()
    items = [item_node(item, graph) for item in interactions.items]
    triples = list(graph.triples)
    for row, col, value in zip(matrix.row, matrix.col, matrix.data, strict=True):
        if value > 0:
            triples.append((user_node(interactions.users[row]), INTERACTS_WITH, items[col]))
    return triples


class KGEmbeddingRecommender:
    """PyKEEN TransE / ComplEx on the collaborative knowledge graph (fixed epochs, sLCWA
    negative sampling, Adam), CPU and a fixed thread count by default."""

    name: ClassVar[str] = "kg"

    def __init__(
        self,
        *,
        model: str = "TransE",
        dim: int = 64,
        epochs: int = 50,
        lr: float = 0.01,
        batch_size: int = 1024,
        negatives: int = 8,
        seed: int = 0,
        threads: int = 1,
        device: str = "cpu",
    ) -> None:
        self.model = check_choice("model", model, _MODELS)
        self.dim = check_positive_int("dim", dim)
        self.epochs = check_positive_int("epochs", epochs)
        self.lr = check_positive("lr", lr)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.negatives = check_positive_int("negatives", negatives)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.seed = seed
        self.threads = check_positive_int("threads", threads)
        self.device = device
        self.embeddings: KGEmbeddings | None = None
        self._user_rows: np.ndarray | None = None
        self._item_rows: np.ndarray | None = None

    def fit(self, interactions: Interactions, *, graph: ItemGraph | None = None) -> Self:
        from pykeen.triples import TriplesFactory

        from kg.kge_config import TrainConfig, resolve_device
        from kg.kge_training import (
            embeddings_from_model,
            frozen_heap,
            known_noise_filtered,
            prepare_training,
        )
        from kg.reproducible import reproducible

        graph = graph if graph is not None else ItemGraph(triples=(), item_entities={})
        triples = collaborative_triples(interactions, graph)
        config = TrainConfig(
            model=self.model,
            dim=self.dim,
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch_size,
            negatives=self.negatives,
            seed=self.seed,
            threads=self.threads,
            device=self.device,
        )
        device = resolve_device(self.device)
        with (
            known_noise_filtered(),
            frozen_heap(),
            reproducible(seed=self.seed, threads=self.threads),
        ):
            factory = TriplesFactory.from_labeled_triples(np.array(triples, dtype=str))
            model, loop = prepare_training(factory, config=config, device=device)
            loop.train(
                triples_factory=factory,
                num_epochs=self.epochs,
                batch_size=self.batch_size,
                use_tqdm=False,
                use_tqdm_batch=False,
            )
        self.embeddings = embeddings_from_model(
            model, factory, config=config.as_dict(), metrics={}, graph_revision=None
        )
        index = {entity: row for row, entity in enumerate(self.embeddings.entity_ids)}
        self._user_rows = np.array([index.get(user_node(u), -1) for u in interactions.users])
        self._item_rows = np.array([index.get(item_node(p, graph), -1) for p in interactions.items])
        return self

    def _fitted(self) -> tuple[KGEmbeddings, np.ndarray, np.ndarray]:
        if self.embeddings is None or self._user_rows is None or self._item_rows is None:
            raise not_fitted(self.name)
        return self.embeddings, self._user_rows, self._item_rows

    def user_scores(self, users: Sequence[int]) -> Scores:
        from kg.kge_models import kge_model

        embeddings, user_rows, item_rows = self._fitted()
        scorer = kge_model(embeddings.model).from_config(embeddings.config)
        vectors = embeddings.entities.astype(np.float64)
        relation = embeddings.relations[embeddings.relation_ids.index(INTERACTS_WITH)]
        tails = vectors[np.maximum(item_rows, 0)][None, :, :]
        rows = user_rows[list(users)]
        scores = np.full((len(rows), len(item_rows)), np.nan)
        for start in range(0, len(rows), _USER_BLOCK):
            block = rows[start : start + _USER_BLOCK]
            heads = vectors[np.maximum(block, 0)][:, None, :]
            scores[start : start + len(block)] = scorer.score(
                heads, relation.astype(np.float64), tails
            )
        scores[rows < 0] = np.nan
        scores[:, item_rows < 0] = np.nan
        return scores

    def item_scores(self, items: Sequence[int]) -> Scores:
        from kg.kge_models import kge_model

        embeddings, _, item_rows = self._fitted()
        scorer = kge_model(embeddings.model).from_config(embeddings.config)
        view = scorer.similarity_view(
            embeddings.entities[np.maximum(item_rows, 0)].astype(np.float64)
        )
        rows = np.asarray(list(items), dtype=np.int64)
        scores = cosine_rows(view, rows)
        scores[item_rows[rows] < 0] = np.nan
        scores[:, item_rows < 0] = np.nan
        return scores

    def params(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dim": self.dim,
            "epochs": self.epochs,
            "lr": self.lr,
            "batch_size": self.batch_size,
            "negatives": self.negatives,
            "seed": self.seed,
            "threads": self.threads,
            "device": self.device,
        }
