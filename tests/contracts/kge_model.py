"""The KGE model contract (PyKEEN's ``tests/cases.py`` style): every model registered in
:data:`kg.kge_models.KGE_MODELS` gets one subclass of :class:`KGEModelContract` that sets
``model_cls`` and the artefact ``config`` it scores with.

Artefacts here are random rows of the model's width (no training), so the suite is fast;
the one PyKEEN check builds an untrained model on a handful of triples."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from kg.kge import KGEmbeddings
from kg.kge_incremental import embed_entity
from kg.kge_models import KGE_MODELS, KGEScorer, kge_model, normalize_model_name

DIM = 6
ENTITIES = tuple(f"e:{i}" for i in range(24))
RELATIONS = ("R0", "R1", "R2")


class KGEModelContract:
    model_cls: ClassVar[type[KGEScorer]]
    #: what an artefact of this model records in ``config`` (e.g. TransE's scoring_norm)
    config: ClassVar[dict[str, Any]] = {}

    # ---- fixtures -----------------------------------------------------------------------

    @pytest.fixture
    def scorer(self) -> KGEScorer:
        return self.model_cls.from_config(self.config)

    @pytest.fixture
    def artefact(self, scorer: KGEScorer) -> KGEmbeddings:
        rng = np.random.default_rng(7)
        width = scorer.width(DIM)
        entities = rng.normal(size=(len(ENTITIES), width))
        entities /= np.linalg.norm(entities, axis=1, keepdims=True)
        return KGEmbeddings(
            model=self.model_cls.name,
            entity_ids=ENTITIES,
            relation_ids=RELATIONS,
            entities=entities.astype(np.float32),
            relations=rng.normal(scale=0.5, size=(len(RELATIONS), width)).astype(np.float32),
            config=dict(self.config),
            metrics={},
            graph_revision=3,
        )

    # ---- registry -----------------------------------------------------------------------

    def test_is_registered_under_its_pykeen_name(self, scorer: KGEScorer) -> None:
        from pykeen.models import model_resolver

        name = self.model_cls.name
        assert isinstance(scorer, KGEScorer)
        assert KGE_MODELS[name] is self.model_cls
        assert kge_model(name) is self.model_cls
        assert kge_model(name.lower()) is self.model_cls
        assert kge_model(name.upper() + "Model") is self.model_cls
        # the same name picks the same model in PyKEEN's resolver, which trains it
        assert model_resolver.lookup(name).__name__ == name
        assert model_resolver.normalize(name) == normalize_model_name(name)

    def test_width_and_dim_agree(self, scorer: KGEScorer, artefact: KGEmbeddings) -> None:
        for dim in (1, 4, DIM, 64):
            assert scorer.dim(scorer.width(dim)) == dim
        assert artefact.dim == DIM
        assert artefact.entities.shape[1] == scorer.width(DIM)

    # ---- scoring ------------------------------------------------------------------------

    def test_scores_have_one_finite_value_per_pair(self, artefact: KGEmbeddings) -> None:
        heads, tails = list(ENTITIES[:5]), list(ENTITIES[5:10])
        scores = artefact.score(heads, "R1", tails)
        assert scores.shape == (5,) and np.isfinite(scores).all()
        one = [artefact.score([h], "R1", [t])[0] for h, t in zip(heads, tails, strict=True)]
        np.testing.assert_allclose(scores, one, rtol=1e-12)
        broadcast = artefact.score(heads, "R1", tails[:1])
        assert broadcast.shape == (5,)
        np.testing.assert_allclose(broadcast, artefact.score(heads, "R1", tails[:1] * 5))

    def test_numpy_scores_equal_pykeen_score_hrt(self) -> None:
        import torch
        from pykeen.models import model_resolver
        from pykeen.triples import TriplesFactory

        from kg.kge_config import TrainConfig
        from kg.kge_training import embeddings_from_model

        triples = np.array(
            [(ENTITIES[i % 24], RELATIONS[i % 3], ENTITIES[(5 * i + 1) % 24]) for i in range(40)],
            dtype=str,
        )
        factory = TriplesFactory.from_labeled_triples(triples)
        config = TrainConfig(model=self.model_cls.name, dim=DIM, **self.train_overrides())
        model = model_resolver.make(
            self.model_cls.name,
            triples_factory=factory,
            random_seed=5,
            **self.model_cls.pykeen_kwargs(config),
        )
        artefact = embeddings_from_model(model, factory, config={}, metrics={}, graph_revision=None)
        assert artefact.model == self.model_cls.name
        assert artefact.entities.shape == (
            factory.num_entities,
            self.model_cls.from_config(artefact.config).width(DIM),
        )
        batch = factory.mapped_triples[:20]
        with torch.no_grad():
            expected = model.score_hrt(batch).squeeze(-1).numpy()
        entity, relation = artefact.entity_ids, factory.relation_id_to_label
        got = [
            artefact.score([entity[h]], relation[r], [entity[t]])[0] for h, r, t in batch.tolist()
        ]
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)

    def train_overrides(self) -> dict[str, Any]:
        """TrainConfig settings that make PyKEEN build the model this case's config scores."""
        return {}

    def test_similarity_is_a_cosine(self, artefact: KGEmbeddings) -> None:
        sims = artefact.similarity(list(ENTITIES[:6]), ENTITIES[0])
        assert sims.shape == (6,)
        assert sims[0] == pytest.approx(1.0)
        assert np.all(np.abs(sims) <= 1.0 + 1e-9)

    # ---- incremental placement ----------------------------------------------------------

    def test_score_gradient_matches_finite_differences(self, scorer: KGEScorer) -> None:
        rng = np.random.default_rng(11)
        width = scorer.width(DIM)
        head = rng.normal(size=width)
        relations, tails = rng.normal(size=(3, width)), rng.normal(size=(3, width))
        scores, grad = scorer.score_and_grad(head, relations, tails)
        np.testing.assert_allclose(scores, scorer.score(head[None, :], relations, tails))
        assert grad.shape == (3, width)
        eps = 1e-6
        for i in range(width):
            step = np.zeros(width)
            step[i] = eps
            plus = scorer.score((head + step)[None, :], relations, tails)
            minus = scorer.score((head - step)[None, :], relations, tails)
            np.testing.assert_allclose(grad[:, i], (plus - minus) / (2 * eps), atol=1e-5)
        # relations and tails broadcast over leading axes (negatives per triple)
        many, many_grad = scorer.score_and_grad(head, relations[:, None, :], tails[None, :, :])
        assert many.shape == (3, 3) and many_grad.shape == (3, 3, width)

    def test_placement_gives_a_row_of_the_model_width(
        self, scorer: KGEScorer, artefact: KGEmbeddings
    ) -> None:
        pairs = [(0, 1), (2, 5), (1, 9)]
        row = embed_entity(
            model=scorer,
            entities=artefact.entities,
            relations=artefact.relations,
            pairs=pairs,
            exclude_row=None,
            steps=5,
            seed="e:new",
        )
        assert row.shape == (scorer.width(DIM),) and row.dtype == np.float32
        assert np.isfinite(row).all()
        start = scorer.initial_head(
            artefact.relations[[0, 2, 1]].astype(np.float64),
            artefact.entities[[1, 5, 9]].astype(np.float64),
        )
        assert start.shape == (scorer.width(DIM),)

        updated = artefact.with_entity(
            "e:new", [("R0", "e:1"), ("R2", "e:5"), ("R1", "e:9")], steps=5
        )
        assert updated.entities.shape == (len(ENTITIES) + 1, scorer.width(DIM))
        np.testing.assert_array_equal(updated.entity_vector("e:new"), row)
        np.testing.assert_array_equal(updated.entities[:-1], artefact.entities)
        assert np.isfinite(updated.score(["e:new"], "R0", ["e:1"])).all()

    # ---- persistence --------------------------------------------------------------------

    def test_save_load_round_trip(self, artefact: KGEmbeddings, tmp_path: Path) -> None:
        artefact.save(tmp_path / "kge")
        loaded = KGEmbeddings.load(
            tmp_path / "kge", expected_revision=3, known_entities=artefact.entity_ids
        )
        assert loaded.model == self.model_cls.name
        assert dict(loaded.config) == dict(artefact.config)
        np.testing.assert_array_equal(loaded.entities, artefact.entities)
        np.testing.assert_array_equal(loaded.relations, artefact.relations)
        heads, tails = list(ENTITIES[:8]), list(ENTITIES[8:16])
        for relation in RELATIONS:
            np.testing.assert_array_equal(
                loaded.score(heads, relation, tails), artefact.score(heads, relation, tails)
            )
