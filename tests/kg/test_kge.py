"""Knowledge-graph embeddings, fast tier: NumPy scoring against PyKEEN, the artefact's
save/load checks, incremental embedding and the training entry points' errors.

Every training here is a few epochs on Nations or the tiny catalogue graph."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from catalogue.ops import CatalogOps
from kg.kge import KGEArtefactError, KGEmbeddings, UnknownEmbedding
from kg.kge_training import (
    MIN_TRIPLES,
    TrainConfig,
    default_config,
    embeddings_from_model,
    resolve_device,
    split_triples,
    train_on_triples,
)
from kg.sqlite_store import SQLiteGraphStore

TINY = Path(__file__).resolve().parents[2] / "synthetic" / "data" / "tiny" / "product.csv"
Triple = tuple[str, str, str]


@pytest.fixture(scope="module")
def tiny_graph() -> Iterator[tuple[list[Triple], int]]:
    store = SQLiteGraphStore(path=":memory:")
    CatalogOps(store=store).imports.run(TINY, actor="test")
    yield sorted(store.triples()), store.revision
    store.close()


def _fast(model: str, **overrides: object) -> TrainConfig:
    settings: dict[str, object] = {
        "model": model,
        "dim": 16,
        "epochs": 2,
        "eval_every": 1,
        "patience": 1,
        "batch_size": 256,
        "negatives": 4,
        "lr": 0.02,
        "device": "cpu",
        "threads": 1,  # tiny models: one thread is faster, and a shared machine stays usable
    }
    settings.update(overrides)
    return TrainConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=["TransE", "ComplEx"])
def tiny_embeddings(
    request: pytest.FixtureRequest, tiny_graph: tuple[list[Triple], int]
) -> tuple[KGEmbeddings, list[tuple[int, int]]]:
    triples, revision = tiny_graph
    calls: list[tuple[int, int]] = []
    artefact = train_on_triples(
        triples,
        config=_fast(request.param),
        graph_revision=revision,
        progress=lambda epoch, epochs: calls.append((epoch, epochs)),
    )
    return artefact, calls


# ---- NumPy scoring == PyKEEN -------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "kwargs", "inverse"),
    [
        ("TransE", {"scoring_fct_norm": 1}, False),
        ("TransE", {"scoring_fct_norm": 2}, False),
        ("ComplEx", {"regularizer": None}, False),
        ("ComplEx", {"regularizer": None}, True),
    ],
)
def test_numpy_score_equals_pykeen_score_hrt(
    model: str, kwargs: dict[str, Any], inverse: bool
) -> None:
    from pykeen.datasets import Nations
    from pykeen.models import model_resolver
    from pykeen.training import SLCWATrainingLoop

    data = Nations(create_inverse_triples=inverse)  # type: ignore[no-untyped-call]
    pykeen_model = model_resolver.make(
        model, triples_factory=data.training, embedding_dim=12, random_seed=3, **kwargs
    )
    SLCWATrainingLoop(model=pykeen_model, triples_factory=data.training).train(
        triples_factory=data.training, num_epochs=1, batch_size=256, use_tqdm=False
    )
    artefact = embeddings_from_model(
        pykeen_model, data.training, config={}, metrics={}, graph_revision=None
    )
    assert len(artefact.relation_ids) == (110 if inverse else 55)
    batch = data.testing.mapped_triples[:40]
    pykeen_model.eval()
    with torch.no_grad():
        # score_hrt on PyKEEN's internal relation ids (2r when trained with inverses)
        internal = pykeen_model.relation_inverter.map(batch=batch.clone(), index=1)
        expected = pykeen_model.score_hrt(internal if inverse else batch).squeeze(-1).numpy()
    entity = artefact.entity_ids
    relation = data.training.relation_id_to_label
    got = np.array(
        [artefact.score([entity[h]], relation[r], [entity[t]])[0] for h, r, t in batch.tolist()]
    )
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-5)
    # one relation, many pairs at once gives the same numbers
    same = (batch[:, 1] == batch[0, 1]).numpy()
    heads = [entity[h] for h in batch[same, 0].tolist()]
    tails = [entity[t] for t in batch[same, 2].tolist()]
    np.testing.assert_allclose(
        artefact.score(heads, relation[int(batch[0, 1])], tails), expected[same], atol=1e-4
    )
    if inverse:  # the inverse relation scores (t, R_inverse, h) like PyKEEN's head prediction
        h, r, t = batch[0].tolist()
        with torch.no_grad():
            ranked_heads = pykeen_model.predict_h(batch[:1, 1:]).squeeze(0).numpy()
        np.testing.assert_allclose(
            artefact.score([entity[t]], f"{relation[r]}_inverse", [entity[h]])[0],
            ranked_heads[h],
            atol=1e-4,
        )


def test_training_on_the_graph_gives_graph_ids_metrics_and_progress(
    tiny_embeddings: tuple[KGEmbeddings, list[tuple[int, int]]],
    tiny_graph: tuple[list[Triple], int],
) -> None:
    artefact, calls = tiny_embeddings
    triples, revision = tiny_graph
    assert artefact.graph_revision == revision
    assert set(artefact.relation_ids) == {r for _, r, _ in triples}
    assert set(artefact.entity_ids) == {h for h, _, _ in triples} | {t for _, _, t in triples}
    assert all(":" in e for e in artefact.entity_ids)  # graph ids, never database ids
    assert artefact.entities.dtype == np.float32
    assert artefact.entities.shape[0] == len(artefact.entity_ids)
    width = 32 if artefact.model == "ComplEx" else 16
    assert artefact.entities.shape[1] == width and artefact.dim == 16
    for key in ("test_mrr", "test_hits_at_1", "test_hits_at_3", "test_hits_at_10", "valid_mrr"):
        assert 0.0 <= artefact.metrics[key] <= 1.0
    assert artefact.metrics["test_mrr"] > 0
    assert artefact.metrics["train_seconds"] > 0
    assert artefact.config["dataset"] == "graph" and artefact.config["dim"] == 16
    assert calls == [(1, 2), (2, 2)]
    assert artefact.stale == frozenset()


def test_score_and_similarity_contracts(
    tiny_embeddings: tuple[KGEmbeddings, list[tuple[int, int]]],
) -> None:
    artefact, _ = tiny_embeddings
    a, b, c = artefact.entity_ids[:3]
    relation = artefact.relation_ids[0]
    many = artefact.score([a, b, c], relation, [c])
    assert many.shape == (3,)
    assert many[2] == pytest.approx(artefact.score([c], relation, [c])[0])
    with pytest.raises(ValueError, match="same length"):
        artefact.score([a, b], relation, [a, b, c])
    with pytest.raises(UnknownEmbedding, match="product:NOPE"):
        artefact.score(["product:NOPE"], relation, [a])
    with pytest.raises(UnknownEmbedding, match="NOT_A_RELATION"):
        artefact.score([a], "NOT_A_RELATION", [b])
    sims = artefact.similarity([a, b], a)
    assert sims[0] == pytest.approx(1.0) and -1.0 <= sims[1] <= 1.0
    assert artefact.has(a) and not artefact.has("product:NOPE")


# ---- save / load --------------------------------------------------------------------------


def test_save_load_round_trip(
    tiny_embeddings: tuple[KGEmbeddings, list[tuple[int, int]]], tmp_path: Path
) -> None:
    artefact, _ = tiny_embeddings
    target = tmp_path / "kge"
    artefact.save(target)
    artefact.save(target)  # replacing an existing artefact works and leaves nothing behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kge"]
    loaded = KGEmbeddings.load(
        target, expected_revision=artefact.graph_revision, known_entities=artefact.entity_ids
    )
    assert loaded.model == artefact.model
    assert loaded.entity_ids == artefact.entity_ids
    assert loaded.relation_ids == artefact.relation_ids
    np.testing.assert_array_equal(loaded.entities, artefact.entities)
    np.testing.assert_array_equal(loaded.relations, artefact.relations)
    assert dict(loaded.config) == dict(artefact.config)
    assert dict(loaded.metrics) == dict(artefact.metrics)
    assert loaded.graph_revision == artefact.graph_revision and loaded.stale == artefact.stale
    heads, tails = list(artefact.entity_ids[:5]), list(artefact.entity_ids[5:10])
    relation = artefact.relation_ids[-1]
    np.testing.assert_array_equal(
        loaded.score(heads, relation, tails), artefact.score(heads, relation, tails)
    )


def _rewrite_meta(directory: Path, **changes: object) -> None:
    meta = json.loads((directory / "meta.json").read_text())
    meta.update(changes)
    (directory / "meta.json").write_text(json.dumps(meta))


def _write_array(directory: Path, name: str, array: np.ndarray) -> None:
    """Replace an array and its checksum, so only the check under test can fail."""
    import hashlib

    np.save(directory / name, array, allow_pickle=False)
    meta = json.loads((directory / "meta.json").read_text())
    digest = hashlib.sha256((directory / name).read_bytes()).hexdigest()
    meta["files"][name]["sha256"] = digest
    (directory / "meta.json").write_text(json.dumps(meta))


def _break(case: str, directory: Path, artefact: KGEmbeddings) -> None:
    if case == "no directory":
        import shutil

        shutil.rmtree(directory)
    elif case == "no meta":
        (directory / "meta.json").unlink()
    elif case == "corrupt meta":
        (directory / "meta.json").write_text("{not json")
    elif case == "no entities file":
        (directory / "entities.npy").unlink()
    elif case == "flipped bytes":
        raw = bytearray((directory / "relations.npy").read_bytes())
        raw[-3] ^= 0xFF
        (directory / "relations.npy").write_bytes(bytes(raw))
    elif case == "truncated array":
        path = directory / "entities.npy"
        path.write_bytes(path.read_bytes()[:40])
        _rewrite_meta(directory)  # checksum still the old one -> corrupt
    elif case == "ids disagree with rows":
        _rewrite_meta(directory, entity_ids=list(artefact.entity_ids[:-1]))
    elif case == "NaN":
        broken = artefact.entities.copy()
        broken[3, 1] = np.nan
        _write_array(directory, "entities.npy", broken)
    elif case == "old format":
        _rewrite_meta(directory, format_version=0)


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("no directory", "meta.json is missing"),
        ("no meta", "meta.json is missing"),
        ("corrupt meta", "meta.json is corrupt"),
        ("no entities file", "entities.npy is missing"),
        ("flipped bytes", "relations.npy is corrupt"),
        ("truncated array", "entities.npy is corrupt"),
        ("ids disagree with rows", "entity rows but"),
        ("NaN", "NaN"),
        ("old format", "format version"),
    ],
)
def test_load_refuses_a_broken_artefact(
    case: str,
    why: str,
    tiny_embeddings: tuple[KGEmbeddings, list[tuple[int, int]]],
    tmp_path: Path,
) -> None:
    artefact, _ = tiny_embeddings
    artefact.save(tmp_path / "kge")
    _break(case, tmp_path / "kge", artefact)
    with pytest.raises(KGEArtefactError, match=why) as caught:
        KGEmbeddings.load(tmp_path / "kge")
    assert "kgsearch train-kge" in str(caught.value)
    assert caught.value.code == "kge_artefact"


def test_load_checks_revision_and_coverage(
    tiny_embeddings: tuple[KGEmbeddings, list[tuple[int, int]]], tmp_path: Path
) -> None:
    artefact, _ = tiny_embeddings
    artefact.save(tmp_path / "kge")
    revision = artefact.graph_revision
    assert revision is not None
    with pytest.raises(KGEArtefactError, match=f"revision {revision}.*kgsearch train-kge"):
        KGEmbeddings.load(tmp_path / "kge", expected_revision=revision + 1)
    known = list(artefact.entity_ids)
    few_new = known + [f"product:NEW{i}" for i in range(len(known) // 25)]  # under 5% missing
    assert KGEmbeddings.load(tmp_path / "kge", known_entities=few_new).has(known[0])
    many_new = known + [f"product:NEW{i}" for i in range(len(known) // 10)]  # over 5%
    with pytest.raises(KGEArtefactError, match=r"have no embedding \(at most 5%"):
        KGEmbeddings.load(tmp_path / "kge", known_entities=many_new)


# ---- incremental embedding ----------------------------------------------------------------


@pytest.mark.parametrize("model", ["TransE", "ComplEx"])
def test_with_entity_places_a_new_product_near_its_neighbours(
    model: str, tiny_graph: tuple[list[Triple], int]
) -> None:
    triples, revision = tiny_graph
    product = (
        "product:"
        + sorted({h.split(":", 1)[1] for h, _, _ in triples if h.startswith("product:")})[7]
    )
    own = [(r, t) for h, r, t in triples if h == product]
    rest = [tr for tr in triples if product not in (tr[0], tr[2])]
    config = _fast(model, epochs=30, eval_every=30, dim=32, lr=0.05, negatives=8)
    trained = train_on_triples(rest, config=config, graph_revision=revision)
    assert not trained.has(product)

    updated = trained.with_entity(product, own, graph_revision=revision + 1)
    assert updated.has(product) and updated.stale == frozenset({product})
    assert updated.graph_revision == revision + 1
    assert len(updated.entity_ids) == len(trained.entity_ids) + 1
    np.testing.assert_array_equal(updated.entities[:-1], trained.entities)  # rest frozen

    others = [e for e in trained.entity_ids if e.startswith("product:")]
    rng = np.random.default_rng(0)
    sample = list(rng.choice(others, size=20, replace=False))
    new_scores = np.array([updated.score([product], r, [t])[0] for r, t in own])
    random_scores = np.array([updated.score(sample, r, [t]) for r, t in own])  # (triples, 20)
    assert new_scores.mean() > random_scores.mean(axis=0).max()

    # re-linking an embedded product replaces its row, it does not add one
    again = updated.with_entity(product, own[:2], steps=5)
    assert len(again.entity_ids) == len(updated.entity_ids)
    assert again.stale == frozenset({product})


def test_with_entity_refuses_unknown_relations_and_unknown_neighbours(
    tiny_embeddings: tuple[KGEmbeddings, list[tuple[int, int]]],
) -> None:
    artefact, _ = tiny_embeddings
    known = artefact.entity_ids[0]
    with pytest.raises(KGEArtefactError, match=r"MADE_BY.*not trained"):
        artefact.with_entity("product:X1", [("MADE_BY", known)])
    with pytest.raises(KGEArtefactError, match="none of its 1 neighbour"):
        artefact.with_entity("product:X1", [("HAS_BRAND", "brand:nobody-knows")])


# ---- configuration and entry points -------------------------------------------------------


def test_unknown_model_names_are_refused_with_the_supported_list() -> None:
    with pytest.raises(ValueError, match=r"unknown KGE model 'NoSuchModel'.*TransE, ComplEx"):
        TrainConfig(model="NoSuchModel")
    with pytest.raises(ValueError, match="'RotatE' is known to PyKEEN but not supported"):
        TrainConfig(model="RotatE")
    assert TrainConfig(model="transe").model == "TransE"
    assert TrainConfig(model="complex").model == "ComplEx"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("dim", 0, "dim must be a positive integer"),
        ("epochs", -1, "epochs must be a positive integer"),
        ("lr", 0.0, "lr must be a positive number"),
        ("loss", "nope", "unknown loss 'nope'"),
        ("training_loop", "owa", "training_loop 'owa'"),
        ("scoring_norm", 3, "scoring_norm must be 1 or 2"),
        ("device", "tpu", "device must be"),
    ],
)
def test_config_rejects_bad_values(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})  # type: ignore[arg-type]


def test_default_configs_exist_for_every_model_and_dataset() -> None:
    for model in ("TransE", "ComplEx"):
        for dataset in ("graph", "nations", "kinships", "umls"):
            assert default_config(model, dataset).model == model
    with pytest.raises(ValueError, match="dataset 'fb15k'"):
        default_config("TransE", "fb15k")


def test_a_tiny_graph_is_refused(tiny_graph: tuple[list[Triple], int]) -> None:
    triples, _ = tiny_graph
    with pytest.raises(ValueError, match=f"at least {MIN_TRIPLES}"):
        train_on_triples(triples[:20], config=_fast("TransE"), graph_revision=1)
    with pytest.raises(ValueError, match="0 distinct triples"):
        train_on_triples([], config=_fast("TransE"), graph_revision=1)


def test_split_is_deterministic_and_keeps_every_entity_in_train(
    tiny_graph: tuple[list[Triple], int],
) -> None:
    triples, _ = tiny_graph
    train, valid, test = split_triples(triples, seed=5)
    assert (train, valid, test) == split_triples(list(reversed(triples)), seed=5)
    assert len(train) + len(valid) + len(test) == len(set(triples))
    assert len(valid) > 0.03 * len(triples) and len(test) > 0.03 * len(triples)
    seen = {h for h, _, _ in train} | {t for _, _, t in train}
    assert all(h in seen and t in seen for h, _, t in valid + test)
    assert {r for _, r, _ in valid + test} <= {r for _, r, _ in train}
    assert split_triples(triples, seed=6)[1] != valid


def test_device_resolution(tiny_graph: tuple[list[Triple], int]) -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the no-CUDA error cannot be provoked")
    with pytest.raises(ValueError, match=r"'cuda' was requested but torch sees no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="no CUDA device"):
        train_on_triples(
            tiny_graph[0], config=_fast("TransE", device="cuda:0"), graph_revision=None
        )


def test_the_final_evaluation_samples_a_large_split_and_says_how_many(
    tiny_graph: tuple[list[Triple], int],
) -> None:
    """At 50k products the held-out splits have ~19k triples each and filtered ranking
    against every entity took over 20 minutes: the final evaluation takes a seeded sample
    of ``max_final_eval_triples`` and records the count; a small split is evaluated whole."""
    triples, revision = tiny_graph
    whole = train_on_triples(triples, config=_fast("TransE"), graph_revision=revision)
    assert whole.metrics["test_triples_evaluated"] == whole.metrics["test_triples"] > 20
    sampled = train_on_triples(
        triples, config=_fast("TransE", max_final_eval_triples=20), graph_revision=revision
    )
    assert sampled.metrics["test_triples_evaluated"] == 20
    assert sampled.metrics["valid_triples_evaluated"] == 20
    assert 0.0 < sampled.metrics["test_mrr"] <= 1.0
    with pytest.raises(ValueError, match="max_final_eval_triples"):
        _fast("TransE", max_final_eval_triples=0)
