"""The Ranker contract: every ranker in :data:`ranker.registry.RANKERS` gets one subclass of
:class:`RankerContract` (a fixed fusion) or :class:`LearnedRankerContract` (a model saved to
a directory) that provides a ``ranker`` fixture.

Candidate sets are synthetic: every signal the registered features read, drawn from a
latent relevance per candidate, so the learned rankers have something to learn and train
in a fraction of a second."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from ranker.candidates import CandidateSet
from ranker.features import DEFAULT_FEATURES, FeatureSchema, SchemaMismatch, feature_matrix
from ranker.fusion import Ranker
from ranker.registry import LEARNED_RANKERS, RANKERS, make_ranker

Run = tuple[CandidateSet, Mapping[str, int]]

FIELDS = ("name", "product_class", "category", "brand", "attributes", "description")
QUERY_SIGNALS = ("link_brand", "link_category", "link_attribute", "kge_available")
TOLERANCE = 1e-6


def synthetic_query(rng: np.random.Generator, index: int, n: int | None = None) -> Run:
    """One query's candidates (8-15 by default) with every signal, and graded labels that
    follow a latent relevance the signals see through noise. No two candidates tie on
    BM25 or dense except the keyword misses (BM25 0)."""
    n = int(rng.integers(8, 16)) if n is None else n
    z = rng.normal(size=n)
    noisy = z + rng.normal(scale=0.7, size=n)
    bm25 = np.where(noisy > -0.5, 3.0 + 2.0 * noisy + rng.uniform(0, 0.01, n), 0.0)
    signals: dict[str, np.ndarray] = {
        "bm25": bm25,
        **{f"bm25_{f}": bm25 * rng.uniform(0, 1, n) for f in FIELDS},
        "dense": np.tanh(0.5 * z + rng.normal(scale=0.4, size=n)),
        "from_keyword": (bm25 > 0).astype(np.float64),
        "from_dense": (rng.uniform(size=n) < 0.8).astype(np.float64),
        "from_graph": (rng.uniform(size=n) < 0.3).astype(np.float64),
        **{name: np.full(n, float(rng.uniform() < 0.5)) for name in QUERY_SIGNALS},
        "match_brand": (z + rng.normal(size=n) > 0.5).astype(np.float64),
        "match_category": np.clip(0.5 + 0.3 * z + rng.normal(scale=0.2, size=n), 0, 1),
        "match_attribute": rng.uniform(0, 1, n),
        "kge_brand": rng.uniform(0, 1, n),
        "kge_category": np.clip(0.5 + 0.2 * z, 0, 1),
        "kge_attribute": rng.uniform(0, 1, n),
        "kge_similarity": rng.uniform(-1, 1, n),
        "popularity": np.log1p(rng.integers(0, 200, n)).astype(np.float64),
        "rating": np.round(rng.uniform(0, 5, n), 1),
        "has_rating": (rng.uniform(size=n) < 0.9).astype(np.float64),
        "price_z": rng.normal(size=n),
        "has_price": np.ones(n),
        # last, so the draws above stay what they were before this signal existed
        "contradict_attribute": (rng.uniform(size=n) < 0.2) * rng.uniform(0, 1, n),
    }
    ids = tuple(f"q{index}-p{i}" for i in range(n))
    grades = {pid: 2 if v > 1.0 else 1 for pid, v in zip(ids, z, strict=True) if v > 0.3}
    grades.setdefault(ids[int(np.argmax(z))], 2)
    return CandidateSet(ids, signals), grades


def synthetic_runs(count: int, *, seed: int) -> list[Run]:
    rng = np.random.default_rng(seed)
    return [synthetic_query(rng, i) for i in range(count)]


def empty_candidates() -> CandidateSet:
    """No candidates, but every signal (as recall hands over a query that found nothing)."""
    template, _ = synthetic_query(np.random.default_rng(0), 0, n=1)
    return CandidateSet((), {k: v[:0] for k, v in template.signals.items()})


def _sum_parts(parts: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
    total = np.zeros(rows)
    for values in parts.values():
        total = total + values
    return total


class RankerContract:
    """Subclasses set ``registry_name`` and provide a ``ranker`` fixture."""

    registry_name: ClassVar[str]

    @pytest.fixture
    def candidates(self) -> CandidateSet:
        candidates, _ = synthetic_query(np.random.default_rng(2024), 0, n=14)
        return candidates

    def test_is_a_registered_ranker(self, ranker: Ranker) -> None:
        assert isinstance(ranker, Ranker)
        assert ranker.name == self.registry_name and ranker.name in RANKERS

    def test_one_finite_score_per_candidate(self, ranker: Ranker, candidates: CandidateSet) -> None:
        scores = ranker.score(candidates)
        assert isinstance(scores, np.ndarray)
        assert scores.shape == (len(candidates),)
        assert np.isfinite(scores).all()

    def test_empty_candidate_set(self, ranker: Ranker) -> None:
        empty = empty_candidates()
        scores = ranker.score(empty)
        assert isinstance(scores, np.ndarray) and scores.shape == (0,)
        parts = ranker.explain(empty, np.zeros(0, dtype=np.intp))
        assert all(np.asarray(v).shape == (0,) for v in parts.values())

    def test_a_missing_signal_is_an_error_not_a_zero(self, ranker: Ranker) -> None:
        with pytest.raises(KeyError, match="is missing"):
            ranker.score(CandidateSet(("a", "b"), {}))

    def test_deterministic(self, ranker: Ranker, candidates: CandidateSet) -> None:
        first = ranker.score(candidates)
        copy = CandidateSet(
            tuple(candidates.product_ids), {k: v.copy() for k, v in candidates.signals.items()}
        )
        np.testing.assert_array_equal(ranker.score(candidates), first)
        np.testing.assert_array_equal(ranker.score(copy), first)
        rows = np.array([4, 1], dtype=np.intp)
        again = ranker.explain(candidates, rows)
        for name, values in ranker.explain(candidates, rows).items():
            np.testing.assert_array_equal(values, again[name])

    def test_a_score_does_not_depend_on_the_candidates_order(self, ranker: Ranker) -> None:
        # keyword misses tie at BM25 0 and ties are ranked by position (RRF, *_rr features),
        # so this holds on candidates that all matched the keywords
        candidates, _ = synthetic_query(np.random.default_rng(99), 0, n=12)
        matched = CandidateSet(
            candidates.product_ids,
            {**candidates.signals, "bm25": candidates.signal("bm25") + np.linspace(0.5, 0.6, 12)},
        )
        order = np.random.default_rng(1).permutation(len(matched)).astype(np.intp)
        np.testing.assert_allclose(
            ranker.score(matched.take(order)), ranker.score(matched)[order], rtol=1e-12
        )

    def test_contributions_sum_to_the_score(self, ranker: Ranker, candidates: CandidateSet) -> None:
        scores = ranker.score(candidates)
        for rows in ([3, 0, 7], [5], list(range(len(candidates)))):
            asked = np.array(rows, dtype=np.intp)
            parts = ranker.explain(candidates, asked)
            assert parts, "explain() returned no contributions"
            for name, values in parts.items():
                assert isinstance(name, str)
                assert np.asarray(values).shape == (len(asked),), name
                assert np.isfinite(values).all(), name
            np.testing.assert_allclose(
                _sum_parts(parts, len(asked)), scores[asked], atol=TOLERANCE, rtol=0
            )

    def test_a_rows_contributions_do_not_depend_on_the_other_rows_asked(
        self, ranker: Ranker, candidates: CandidateSet
    ) -> None:
        together = ranker.explain(candidates, np.array([2, 9, 6], dtype=np.intp))
        alone = ranker.explain(candidates, np.array([9], dtype=np.intp))
        assert set(alone) == set(together)
        for name, values in alone.items():
            np.testing.assert_allclose(values[0], together[name][1], atol=1e-9)

    def test_params_rebuild_the_same_ranker(self, ranker: Ranker, candidates: CandidateSet) -> None:
        params = json.loads(json.dumps(ranker.params()))  # as the index manifest keeps them
        rebuilt = make_ranker(ranker.name, params)
        assert rebuilt.name == ranker.name
        np.testing.assert_array_equal(rebuilt.score(candidates), ranker.score(candidates))


class LearnedRankerContract(RankerContract):
    """Subclasses set ``registry_name`` (the model kind) and provide a ``model_dir`` fixture:
    a trained model saved there (on synthetic runs, e.g. :func:`synthetic_runs`). The suite
    never writes into it."""

    @pytest.fixture
    def ranker(self, model_dir: Path) -> Ranker:
        return make_ranker(self.registry_name, {"path": str(model_dir)})

    @pytest.fixture
    def copied(self, model_dir: Path, tmp_path: Path) -> Path:
        target = tmp_path / "model"
        shutil.copytree(model_dir, target)
        return target

    def test_is_a_learned_ranker(self, ranker: Ranker, model_dir: Path) -> None:
        assert self.registry_name in LEARNED_RANKERS and ranker.name == self.registry_name
        assert ranker.params() == {"kind": self.registry_name, "path": str(model_dir)}

    def test_save_load_round_trip_gives_identical_scores(
        self, ranker: Ranker, candidates: CandidateSet, tmp_path: Path
    ) -> None:
        save = getattr(ranker, "save", None)
        assert callable(save), f"{type(ranker).__name__} has no save(directory)"
        save(tmp_path / "saved")
        assert ranker.params()["path"] == str(tmp_path / "saved")
        loaded = make_ranker(self.registry_name, {"path": str(tmp_path / "saved")})
        np.testing.assert_array_equal(loaded.score(candidates), ranker.score(candidates))
        rows = np.array([0, 5, 9], dtype=np.intp)
        before, after = ranker.explain(candidates, rows), loaded.explain(candidates, rows)
        assert set(before) == set(after)
        for name, values in before.items():
            np.testing.assert_array_equal(after[name], values)

    def test_relative_paths_resolve_against_the_index_version(
        self, copied: Path, candidates: CandidateSet, ranker: Ranker
    ) -> None:
        rebuilt = make_ranker(
            self.registry_name, {"kind": self.registry_name, "path": "model"}, base=copied.parent
        )
        np.testing.assert_array_equal(rebuilt.score(candidates), ranker.score(candidates))

    def test_an_untrained_ranker_is_refused_by_name(self) -> None:
        with pytest.raises(ValueError, match="has not been trained"):
            make_ranker(self.registry_name, {"kind": self.registry_name, "path": None})

    def test_a_missing_model_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError, match="kgsearch train-ranker"):
            make_ranker(self.registry_name, {"path": str(tmp_path / "nothing-here")})

    def test_a_model_of_another_kind_is_refused(self, copied: Path) -> None:
        for other in LEARNED_RANKERS:
            if other != self.registry_name:
                with pytest.raises(ValueError, match=f"holds a '{self.registry_name}' model"):
                    make_ranker(other, {"path": str(copied)})

    @staticmethod
    def _edit_meta(directory: Path, **changes: object) -> None:
        meta = json.loads((directory / "meta.json").read_text())
        meta.update(changes)
        (directory / "meta.json").write_text(json.dumps(meta))

    def test_a_mismatched_schema_digest_is_refused(self, copied: Path) -> None:
        self._edit_meta(copied, schema_digest="0" * 16)
        with pytest.raises(SchemaMismatch, match=r"another feature schema.*train-ranker"):
            make_ranker(self.registry_name, {"path": str(copied)})

    def test_changed_feature_names_are_refused(self, copied: Path) -> None:
        features = json.loads((copied / "meta.json").read_text())["features"]
        self._edit_meta(copied, features=features[:-1])  # digest still the trained one's
        with pytest.raises(SchemaMismatch, match=r"missing \[\], extra \[\], digest"):
            make_ranker(self.registry_name, {"path": str(copied)})

    def test_an_unregistered_feature_is_refused(self, copied: Path) -> None:
        features = json.loads((copied / "meta.json").read_text())["features"]
        self._edit_meta(copied, features=[*features[:-1], "no_such_feature"])
        with pytest.raises(SchemaMismatch, match=r"unknown feature\(s\) \['no_such_feature'\]"):
            make_ranker(self.registry_name, {"path": str(copied)})

    def test_it_scores_what_its_schema_computes(
        self, ranker: Ranker, candidates: CandidateSet
    ) -> None:
        schema = getattr(ranker, "schema", None)
        assert isinstance(schema, FeatureSchema)
        assert feature_matrix(candidates, schema).shape == (len(candidates), len(schema.names))


#: The schema the suite's learned rankers are trained on.
SCHEMA = FeatureSchema(DEFAULT_FEATURES)
