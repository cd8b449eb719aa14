"""The whole engine on real Neo4j and Elasticsearch (started by scripts/servers)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TINY, unique_namespace

from app.engine import Engine
from app.settings import Settings
from catalogue.ops import CatalogOps
from ingest.judgments import select_split
from ingest.records import ProductRecord
from kg.documents import product_documents
from kg.sqlite_store import SQLiteGraphStore
from search.analysis import Analyzer
from search.encoder import MiniLMEncoder
from search.es_index import ElasticsearchAdmin, ElasticsearchKeywordIndex
from search.keyword import keyword_doc
from search.tantivy_index import TantivyKeywordIndex

pytestmark = pytest.mark.integration


def test_tantivy_and_elasticsearch_rank_alike(es_url: str) -> None:
    """Same analysis, same BM25: top-10 overlap on the tiny catalogue's queries >= 0.8."""
    store = SQLiteGraphStore(path=":memory:")
    CatalogOps(store=store).imports.run(TINY / "product.csv", actor="test")
    analyzer = Analyzer()
    docs = [keyword_doc(d, analyzer) for d in product_documents(store)]
    tantivy = TantivyKeywordIndex()
    tantivy.upsert(docs)
    admin = ElasticsearchAdmin(url=es_url, prefix=unique_namespace("kgtest-"))
    es = ElasticsearchKeywordIndex(url=es_url, index=admin.create("v1", dim=None))
    try:
        es.upsert(docs)
        from ingest.formats import read_queries

        overlaps = []
        for query in read_queries(TINY / "query.csv").records:
            tokens = analyzer.tokens(query.query)
            a = [p for p, _ in tantivy.search(tokens, k=10)]
            b = [p for p, _ in es.search(tokens, k=10)]
            if a or b:
                overlaps.append(len(set(a) & set(b)) / max(len(a), len(b)))
        mean = sum(overlaps) / len(overlaps)
        print(f"tantivy vs elasticsearch top-10 overlap: {mean:.3f} over {len(overlaps)} queries")
        assert mean >= 0.8
    finally:
        es.close()
        admin.drop(admin.versions())
        admin.close()


@pytest.fixture
def server_engine(
    neo4j_uri: str, es_url: str, tmp_path: Path, encoder: MiniLMEncoder
) -> Iterator[Engine]:
    settings = Settings(
        home=tmp_path,
        graph_backend="neo4j",
        neo4j_uri=neo4j_uri,
        neo4j_namespace=unique_namespace(),
        search_backend="elasticsearch",
        elasticsearch_url=es_url,
        elasticsearch_prefix=unique_namespace("kgtest-"),
        keep_versions=1,
    )
    import shutil

    shutil.copytree(TINY, tmp_path / "catalogue")
    engine = Engine(settings, encoder=encoder)
    yield engine
    engine.wipe()


def test_import_reindex_search_evaluate_rollback(server_engine: Engine) -> None:
    engine = server_engine
    report = engine.import_catalogue(engine.catalogue_dir / "product.csv")
    assert report.imported == 200 and engine.graph.count() > 200
    first = engine.reindex()
    assert first.search_backend == "elasticsearch" and first.products == 200
    assert engine.backend.admin.live() == engine.backend.admin.index_name("v0001")  # type: ignore[attr-defined]

    service, _ = engine.service()
    assert service.search("accent chair", k=5).hits
    n, systems = engine.evaluate(split="test")
    assert n == len(select_split(engine.judged(), "test")) and set(systems) >= {"bm25", "rrf"}

    second = engine.reindex()
    admin = engine.backend.admin  # type: ignore[attr-defined]
    assert second.version == "v0002" and admin.live() == admin.index_name("v0002")
    assert engine.rollback() == "v0001"
    assert admin.live() == admin.index_name("v0001")
    assert engine.service()[1].version == "v0001"


def test_a_version_keeps_a_copy_of_its_vectors_for_cosines_and_reuse(
    server_engine: Engine,
) -> None:
    """An Elasticsearch version saves its vectors beside its manifest, as the embedded
    backend does: the candidates' cosines come from that copy (no kNN request for them),
    catalog edits reach it, and the next build reuses every unchanged product's vector.
    A version built without one (before this change) still searches, with Elasticsearch's
    cosines, and the answers agree."""
    from ingest.serving import open_version
    from ranker.registry import make_ranker
    from search.encoder import product_text
    from search.es_index import ElasticsearchVectorIndex

    engine, rrf = server_engine, make_ranker("rrf")
    engine.import_catalogue(engine.catalogue_dir / "product.csv")
    first = engine.reindex()
    where = engine.versions.dir / first.version
    assert (where / "vectors" / "ids.json").exists()
    assert (where / "vectors" / "text_hashes.npy").exists()
    assert engine.backend.admin.segments(first.version) == 1  # type: ignore[attr-defined]
    service, _ = engine.service()
    assert isinstance(service.vectors, ElasticsearchVectorIndex)
    assert service.vectors.local is not None and service.vectors.local.count() == 200
    with_copy = service.search("oak table", k=10, ranker=rrf)

    kept = service.vectors.local
    service.vectors.local = None  # as a version built without the copy opens
    without = service.search("oak table", k=10, ranker=rrf)
    service.vectors.local = kept
    assert [h.product_id for h in with_copy.hits] == [h.product_id for h in without.hits]
    for a, b in zip(with_copy.hits, without.hits, strict=True):
        assert a.signals["dense"] == pytest.approx(b.signals["dense"], abs=1e-6)

    pid = with_copy.hits[-1].product_id
    ops = CatalogOps(store=engine.graph)
    version = ops.products.get(pid).version
    ops.products.update(pid, {"name": "Walnut Writing Desk"}, expected_version=version, actor="ana")
    assert engine.sync() == 1
    service, _ = engine.service()
    doc = next(d for d in product_documents(engine.graph) if d.product_id == pid)
    fresh = engine.encoder.encode([product_text(doc)])[0]
    assert kept.vector(pid) == pytest.approx(fresh, abs=1e-5)

    second = engine.reindex()
    assert second.vectors_reused == 199 and second.vectors_encoded == 1  # the edited one
    again, _ = open_version(
        engine.versions.dir / second.version,
        encoder=engine.encoder,
        analyzer=service.analyzer,
        backend=engine.backend,
    )
    assert isinstance(again.vectors, ElasticsearchVectorIndex) and again.vectors.local is not None
    assert again.vectors.local.vector(pid) == pytest.approx(fresh, abs=1e-5)
    other = with_copy.hits[0].product_id
    assert again.vectors.local.vector(other).tolist() == kept.vector(other).tolist()  # type: ignore[union-attr]
    assert again.search("oak table", k=10, ranker=rrf).hits


def test_searches_during_a_reindex_never_fail_or_mix(server_engine: Engine) -> None:
    engine = server_engine
    engine.import_catalogue(engine.catalogue_dir / "product.csv")
    engine.reindex()
    query = "striped hammock"
    before = [h.product_id for h in engine.service()[0].search(query, k=10).hits]
    CatalogOps(store=engine.graph).imports.run(
        [
            ProductRecord(
                product_id="NEW1",
                name="Zebra striped hammock",
                product_class="Hammocks",
                category_path=("Outdoor", "Hammocks"),
            )
        ],
        actor="test",
    )
    results: list[tuple[str, list[str]]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def search_loop() -> None:
        while not done.is_set():
            try:
                service, manifest = engine.service()
                hits = [h.product_id for h in service.search(query, k=10).hits]
                results.append((manifest.version, hits))
            except BaseException as exc:  # the assertion below reports it
                errors.append(exc)

    threads = [threading.Thread(target=search_loop) for _ in range(2)]
    for t in threads:
        t.start()
    engine.reindex()
    for _ in range(20):  # keep searching a little after the switch
        if sum(1 for v, _ in results if v == "v0002") >= 3:
            break
        threading.Event().wait(0.2)
    done.set()
    for t in threads:
        t.join()

    after = [h.product_id for h in engine.service()[0].search(query, k=10).hits]
    assert not errors, errors[:3]
    assert "NEW1" in after and "NEW1" not in before
    assert {v for v, _ in results} == {"v0001", "v0002"}
    for version, hits in results:
        assert hits, f"empty result from {version}"
        assert hits == (before if version == "v0001" else after), f"mixed result from {version}"


def test_server_errors_are_backend_errors_not_crashes(neo4j_uri: str, es_url: str) -> None:
    """A refused query is a 502-class BackendError naming the backend; only connection
    trouble and overload are BackendUnavailable (503)."""
    from kg.neo4j_store import Neo4jGraphStore
    from kg.store import BackendError
    from search.es_index import _translate, connect

    store = Neo4jGraphStore(uri=neo4j_uri, namespace=unique_namespace())
    try:
        with pytest.raises(BackendError, match="neo4j answered with an error"):
            store._read("THIS IS NOT CYPHER")
    finally:
        store.drop()
        store.close()
    client = connect(es_url)
    with (
        pytest.raises(BackendError, match="elasticsearch answered with an error") as caught,
        _translate(es_url),
    ):
        client.search(index="*", query={"no_such_query": {}})  # a 400 parsing error
    assert caught.value.backend == "elasticsearch"


def test_relation_checks_seek_the_source_and_walk_its_few_relations(neo4j_uri: str) -> None:
    """Checking which relations exist (and deleting some) seeks each pair's source by id
    and walks its relations. The planner's own choice scanned the id index once per pair,
    or sought the target and walked all of a popular attribute value's products: a 50k
    import spent minutes in one batch. Held on the real planner's plan, after an import
    so that it has statistics to choose by."""
    from kg import cypher
    from kg.neo4j_store import Neo4jGraphStore
    from kg.schema import RelationType

    def operators(plan: dict[str, object]) -> list[tuple[str, str]]:
        args = plan.get("args")
        details = str(args.get("Details", "")) if isinstance(args, dict) else ""
        found = [(str(plan["operatorType"]).split("@")[0], details)]
        for child in plan.get("children") or []:  # type: ignore[attr-defined]
            found += operators(child)
        return found

    namespace = unique_namespace()
    store = Neo4jGraphStore(uri=neo4j_uri, namespace=namespace)
    try:
        CatalogOps(store=store).imports.run(TINY / "product.csv", actor="test")
        pairs = [["product:P1", "attr:color:blue"]]
        for query, params in (
            cypher.existing_relations(namespace, RelationType.HAS_ATTRIBUTE, pairs),
            cypher.delete_relations(namespace, RelationType.HAS_ATTRIBUTE, pairs),
        ):
            assert store._driver is not None  # the import connected
            with store._driver.session() as session:
                plan = session.run("EXPLAIN " + query, **params).consume().plan
            assert plan is not None
            ops = operators(plan)
            leaves = [(op, d) for op, d in ops if "Index" in op or "Scan" in op]
            assert len(leaves) == 1, ops
            op, details = leaves[0]
            assert op.startswith("NodeUniqueIndexSeek") and " a:" in details, ops
            assert any(op == "Expand(All)" and "(a)-" in d for op, d in ops), ops
    finally:
        store.drop()
        store.close()


def test_two_deployments_sharing_a_prefix_never_touch_each_others_indexes(es_url: str) -> None:
    from kg.store import BackendError

    prefix = f"kgsearch-owners-{unique_namespace().lower()}"
    ours = ElasticsearchAdmin(url=es_url, prefix=prefix, deployment="ours")
    theirs = ElasticsearchAdmin(url=es_url, prefix=prefix, deployment="theirs")
    try:
        ours.create("v0001", dim=4)
        ours.swap("v0001")
        with pytest.raises(BackendError, match="belongs to deployment 'ours'"):
            theirs.create("v0001", dim=4)  # once: deleted ours and took its place
        theirs.create("v0002", dim=4)
        with pytest.raises(BackendError, match="belongs to deployment 'theirs'"):
            ours.swap("v0002")
        with pytest.raises(BackendError, match="belongs to deployment 'ours'"):
            theirs.swap("v0002")  # the alias serves ours: not theirs to move
        assert ours.versions() == [f"{prefix}-v0001"]
        assert theirs.versions() == [f"{prefix}-v0002"]
        assert ours.live() == f"{prefix}-v0001"
    finally:
        ours.drop([f"{prefix}-v0001", f"{prefix}-v0002"])
        ours.close()
        theirs.close()


def test_elasticsearch_answers_a_search_in_two_round_trips_with_the_same_answers(
    es_url: str,
) -> None:
    """The keyword and kNN tops in one ``_msearch``, the candidates' per-field BM25 and
    cosine in another: the same hits and scores as asking each index on its own, in two
    requests instead of four (issue 14). The per-field BM25 comes from one query with a
    named clause per field; each field's scores must be those of that field's own
    restricted query, exactly, with fuzziness on and off. The keyword hits bring their
    field scores with them (the recall's clauses are named alike), so the second read
    asks only for the other candidates; with the vectors' local copy it sends no kNN,
    and none at all when the keyword top holds every candidate."""
    import numpy as np

    from search.es_index import ElasticsearchSources, ElasticsearchVectorIndex
    from search.es_queries import restricted_field_query
    from search.keyword import DEFAULT_FIELD_WEIGHTS, KEYWORD_FIELDS
    from search.sources import SeparateSources, sources_for
    from search.spelling import DEFAULT_EDIT_RULE
    from search.vector import NumpyVectorIndex

    store = SQLiteGraphStore(path=":memory:")
    CatalogOps(store=store).imports.run(TINY / "product.csv", actor="test")
    analyzer = Analyzer()
    products = product_documents(store)
    rng = np.random.default_rng(14)
    vectors = rng.normal(size=(len(products), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    admin = ElasticsearchAdmin(url=es_url, prefix=unique_namespace("kgtest-"))
    name = admin.create("v1", dim=8)
    keyword = ElasticsearchKeywordIndex(url=es_url, index=name)
    dense = ElasticsearchVectorIndex(url=es_url, index=name, dim=8, local=NumpyVectorIndex(dim=8))
    remote = ElasticsearchVectorIndex(url=es_url, index=name, dim=8, client=keyword.client)
    zero_weight = ElasticsearchKeywordIndex(  # a field left out of the recall query
        url=es_url,
        index=name,
        field_weights={**DEFAULT_FIELD_WEIGHTS, "description": 0.0},
        client=keyword.client,
    )

    def on(fields: dict[str, dict[str, float]], ids: list[str]) -> dict[str, dict[str, float]]:
        return {f: {p: s for p, s in fields[f].items() if p in ids} for f in KEYWORD_FIELDS}

    try:
        keyword.upsert([keyword_doc(d, analyzer) for d in products])
        dense.upsert([d.product_id for d in products], vectors)
        assert dense.local is not None and dense.local.count() == remote.count()
        joint, separate = sources_for(keyword, remote), SeparateSources(keyword, remote)
        local = sources_for(keyword, dense)
        assert isinstance(joint, ElasticsearchSources) and isinstance(local, ElasticsearchSources)
        requests: list[tuple[str, int]] = []  # (method, searches in it)
        client = keyword.client
        for method in ("search", "msearch"):
            real = getattr(client, method)

            def counted(*args: object, _real: object = real, _m: str = method, **kw: object):  # type: ignore[no-untyped-def]
                requests.append((_m, len(kw.get("searches", [None, None])) // 2))  # type: ignore[arg-type]
                return _real(*args, **kw)  # type: ignore[operator]

            setattr(client, method, counted)
        allowed = frozenset(d.product_id for d in products[::2])
        for text in ("velvet sofa", "oak table", "lamp"):
            tokens, query = analyzer.tokens(text), vectors[len(text) % len(products)]
            for filtered in (None, allowed):
                asks = {"keyword_k": 20, "dense_k": 10, "fuzzy": None, "allowed": filtered}
                requests.clear()
                tops = joint.top(tokens, query, **asks)  # type: ignore[arg-type]
                assert requests == [("msearch", 2)]
                alone = separate.top(tokens, query, **asks)  # type: ignore[arg-type]
                assert (tops.keyword, tops.dense) == (alone.keyword, alone.dense)
                assert tops.keyword and tops.dense
                assert tops.fields_of == {p for p, _ in tops.keyword + tops.dense}
                found = [p for p, _ in tops.keyword + tops.dense]
                extra = [d.product_id for d in products if d.product_id not in found][:5]
                ids = list(dict.fromkeys(found + extra))  # extra: as graph expansion adds
                expected = separate.score(tokens, query, ids, fuzzy=None)
                assert on(expected[0], ids) == expected[0]
                hits = [p for p in ids if p in tops.fields_of]
                assert on(tops.fields, hits) == on(expected[0], hits)  # type: ignore[arg-type]
                requests.clear()
                assert joint.score(tokens, query, ids, fuzzy=None) == expected
                assert requests == [("msearch", 2)]
                assert set(expected[1]) == set(ids)
                requests.clear()
                with_tops = joint.score(tokens, query, ids, fuzzy=None, tops=tops)
                assert requests == [("msearch", 1 + (len(hits) < len(ids)))]
                assert (on(with_tops[0], ids), with_tops[1]) == expected
                requests.clear()
                copied = local.score(tokens, query, ids, fuzzy=None, tops=tops)
                assert requests == ([("msearch", 1)] if len(hits) < len(ids) else [])
                assert on(copied[0], ids) == expected[0]
                assert copied[1] == pytest.approx(expected[1], abs=1e-6)
                requests.clear()
                assert local.score(tokens, query, hits, fuzzy=None, tops=tops)[1]
                assert requests == []  # every candidate came with its scores: nothing to ask
                requests.clear()
                whole = local.top(tokens, query, **asks, also=extra)  # type: ignore[arg-type]
                assert requests == [("msearch", 3)] and whole.fields_of == set(ids)
                one_trip = local.score(tokens, query, ids, fuzzy=None, tops=whole)
                assert requests == [("msearch", 3)]  # one round trip for the whole search
                assert on(one_trip[0], ids) == expected[0] and one_trip[1] == copied[1]
                partial = sources_for(zero_weight, dense).top(tokens, query, **asks)  # type: ignore[arg-type]
                assert partial.fields_of == {p for p, _ in tops.dense}  # not the keyword hits
                scored = sources_for(zero_weight, dense).score(
                    tokens, query, ids, fuzzy=None, tops=partial
                )
                assert on(scored[0], ids) == expected[0]
                for fuzzy in (None, DEFAULT_EDIT_RULE):
                    one_by_one = {
                        f: {
                            h["_id"]: h["_score"]
                            for h in client.search(
                                index=name,
                                query=restricted_field_query(f, tokens, ids, fuzzy),
                                size=len(ids),
                                _source=False,
                            )["hits"]["hits"]
                        }
                        for f in KEYWORD_FIELDS
                    }
                    assert any(one_by_one.values())
                    assert joint.score(tokens, query, ids, fuzzy=fuzzy)[0] == one_by_one
                    fuzzy_tops = joint.top(tokens, query, **{**asks, "fuzzy": fuzzy})  # type: ignore[arg-type]
                    scored = local.score(tokens, query, ids, fuzzy=fuzzy, tops=fuzzy_tops)
                    assert on(scored[0], ids) == one_by_one
    finally:
        keyword.close()
        admin.drop(admin.versions())
        admin.close()
