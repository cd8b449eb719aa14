"""End to end on the committed tiny catalogue: import, reindex (tune + evaluate), search."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TINY

from app.demo import write_generated
from app.engine import Engine
from ingest.judgments import select_split

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ALL_RANKERS = ("bm25", "dense", "rrf", "linear", "lambdamart", "lambdamart-nokg", "neural")


def test_committed_tiny_catalogue_is_what_the_generator_writes(tmp_path: Path) -> None:
    write_generated(tmp_path, size="tiny", seed=13, progress=lambda *_: None)
    for name in ("product.csv", "query.csv", "label.csv"):
        assert (tmp_path / name).read_bytes() == (TINY / name).read_bytes(), (
            f"{name} differs: regenerate with `kgsearch generate --size tiny --out {TINY}`"
        )


def test_known_exact_products_are_in_the_top_10(tiny_engine: Engine) -> None:
    service, _ = tiny_engine.service()
    judged = [q for q in tiny_engine.judged() if q.kind in ("category", "attribute", "brand")]
    assert len(judged) >= 10
    found = []
    for query in judged:
        exact = {pid for pid, grade in query.grades.items() if grade == 2}
        top = {h.product_id for h in service.search(query.text, k=10).hits}
        found.append(bool(exact & top))
    # Every structured query should find an Exact product; allow one miss for noisy text.
    assert sum(found) >= len(found) - 1, [
        q.text for q, ok in zip(judged, found, strict=True) if not ok
    ]


def test_reindex_tuned_linear_and_recorded_the_evaluation(tiny_engine: Engine) -> None:
    _, manifest = tiny_engine.service()
    assert manifest.products == 200
    assert 0.0 <= manifest.rankers["linear"]["alpha"] <= 1.0
    assert manifest.default_ranker == "lambdamart"
    assert manifest.rankers["lambdamart"] == {"kind": "lambdamart", "path": "rankers/lambdamart"}
    assert set(manifest.evaluation) == {"valid", "test"}
    for split in ("valid", "test"):
        assert set(manifest.evaluation[split]) == set(ALL_RANKERS)
        for scores in manifest.evaluation[split].values():
            assert set(scores) == {"ndcg@10", "recall@100", "mrr"}
            assert all(0.0 <= v <= 1.0 for v in scores.values())


def test_evaluate_every_system_on_the_test_split(tiny_engine: Engine) -> None:
    n, systems = tiny_engine.evaluate(split="test")
    assert n == len(select_split(tiny_engine.judged(), "test"))
    assert set(systems) == set(ALL_RANKERS)
    # Fusion should not be worse than the weaker single signal on its own split.
    weaker = min(systems["bm25"].means["ndcg@10"], systems["dense"].means["ndcg@10"])
    assert systems["rrf"].means["ndcg@10"] >= weaker


def test_evaluate_external_wands_style_judgments(tiny_engine: Engine) -> None:
    n, systems = tiny_engine.evaluate(
        split="all", queries=TINY / "query.csv", labels=TINY / "label.csv"
    )
    assert n == len([q for q in tiny_engine.judged() if q.grades])
    assert systems["bm25"].counts["ndcg@10"] == n
