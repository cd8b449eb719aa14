"""The composition root: builds the graph store, encoder, index versions and search
service from :class:`Settings`, and offers the operations the CLI and API expose."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.settings import Settings
from ingest.versions import IndexVersions, Manifest
from kg.store import GraphStore

# Everything else is imported where it is used, so that `kgsearch --help` and
# `kgsearch status` never load NumPy, torch, transformers, LightGBM or PyKEEN.
if TYPE_CHECKING:
    from catalogue.imports import ImportReport
    from ingest.progress import Progress
    from ingest.sync import LiveSync
    from ranker.evaluation import JudgedQuery, SystemScores
    from ranker.fusion import Ranker
    from recommend.service import RecommendationService
    from search.analysis import Analyzer
    from search.backends import IndexBackend
    from search.encoder import Encoder
    from search.service import SearchService

__all__ = ["Engine"]

log = logging.getLogger(__name__)


def _quiet(stage: str, done: int, total: int) -> None:
    return None


def _sqlite(settings: Settings) -> GraphStore:
    from kg.sqlite_store import SQLiteGraphStore

    return SQLiteGraphStore(path=settings.data_dir / "graph.sqlite")


def _neo4j(settings: Settings) -> GraphStore:
    from kg.neo4j_store import Neo4jGraphStore

    password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else None
    return Neo4jGraphStore(
        uri=settings.neo4j_uri,
        namespace=settings.neo4j_namespace,
        user=settings.neo4j_user,
        password=password,
        timeout_s=settings.backend_timeout_s,
    )


def _embedded(settings: Settings) -> IndexBackend:
    from search.backends import EmbeddedBackend

    return EmbeddedBackend()


def _elasticsearch(settings: Settings) -> IndexBackend:
    from search.backends import ElasticsearchBackend

    return ElasticsearchBackend(
        url=settings.elasticsearch_url,
        prefix=settings.elasticsearch_prefix,
        deployment=deployment_id(settings),
    )


def deployment_id(settings: Settings) -> str:
    """This deployment's id (settings, else a random one kept in ``<home>/deployment_id``):
    what marks the Elasticsearch indexes it owns."""
    if settings.deployment_id:
        return settings.deployment_id
    path = settings.data_dir / "deployment_id"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        made = secrets.token_hex(8)
        try:
            with path.open("x", encoding="utf-8") as handle:  # first writer wins
                handle.write(made)
        except FileExistsError:
            return path.read_text(encoding="utf-8").strip()
        return made


#: Backends by the names settings use.
GRAPH_BACKENDS: dict[str, Callable[[Settings], GraphStore]] = {"sqlite": _sqlite, "neo4j": _neo4j}
SEARCH_BACKENDS: dict[str, Callable[[Settings], IndexBackend]] = {
    "embedded": _embedded,
    "elasticsearch": _elasticsearch,
}


class Engine:
    """One per process; safe to share between request threads."""

    def __init__(self, settings: Settings, *, encoder: Encoder | None = None) -> None:
        self.settings = settings
        self.home = settings.data_dir
        self.home.mkdir(parents=True, exist_ok=True)
        self.versions = IndexVersions(root=self.home / "index")
        # The encoder, analyzer and index backend are made on first use (see the
        # properties): `kgsearch status` needs none of them.
        self._encoder: Encoder | None = encoder
        self._analyzer: Analyzer | None = None
        self._backend: IndexBackend | None = None
        self._graph: GraphStore | None = None
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._loaded: tuple[tuple[int, int] | None, SearchService, Manifest] | None = None
        self._live_sync: LiveSync | None = None
        self._opened_with = 0  # products the last opened version caught up on
        self._last_sync = 0.0
        self._recs: tuple[tuple[object, ...], RecommendationService] | None = None
        self._recs_lock = threading.Lock()

    # -- parts ------------------------------------------------------------------------------

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = self._make_encoder()
        return self._encoder

    def _make_encoder(self) -> Encoder:
        """MiniLM on the runtime the settings ask for. ``auto``: ONNX Runtime when the
        device is the CPU and its model loads (exported into the model cache the first
        time, which imports torch once), else transformers; ``onnx`` fails loudly."""
        from search.encoder import MiniLMEncoder

        runtime = self.settings.encoder_runtime
        if runtime == "torch" or (runtime == "auto" and self.settings.device != "cpu"):
            return MiniLMEncoder(device=self.settings.device)  # loads on first encode
        try:
            from search.onnx_encoder import OnnxMiniLMEncoder, OnnxModelError

            onnx = OnnxMiniLMEncoder(
                cache_dir=self.settings.model_cache_dir, threads=self.settings.encoder_threads
            )
            onnx.load()  # export if needed, check the digest, open the session
        except (ImportError, OSError, OnnxModelError) as exc:
            if runtime == "onnx":
                raise
            log.warning("ONNX Runtime encoder unavailable (%s); using transformers", exc)
            return MiniLMEncoder(device=self.settings.device)
        return onnx

    @property
    def analyzer(self) -> Analyzer:
        if self._analyzer is None:
            from search.analysis import Analyzer

            self._analyzer = Analyzer()
        return self._analyzer

    @property
    def backend(self) -> IndexBackend:
        if self._backend is None:
            self._backend = SEARCH_BACKENDS[self.settings.search_backend](self.settings)
        return self._backend

    @property
    def graph(self) -> GraphStore:
        if self._graph is None:
            self._graph = GRAPH_BACKENDS[self.settings.graph_backend](self.settings)
        return self._graph

    @property
    def catalogue_dir(self) -> Path:
        return self.home / "catalogue"

    def service(self) -> tuple[SearchService, Manifest]:
        """The live index version's service, reopened when the live pointer moves."""
        stamp = self.versions.pointer_stamp()
        loaded = self._loaded
        if loaded is not None and loaded[0] == stamp:
            return loaded[1], loaded[2]
        with self._lock:
            if self._loaded is None or self._loaded[0] != stamp:
                from ingest.serving import open_version

                service, manifest = open_version(
                    self.versions.live_path(),
                    encoder=self.encoder,
                    analyzer=self.analyzer,
                    backend=self.backend,
                    ranker=self.settings.ranker,
                )
                self._opened_with = self._catch_up(service, manifest)
                self._loaded = (stamp, service, manifest)
                log.info("serving index %s (%d products)", manifest.version, manifest.products)
            return self._loaded[1], self._loaded[2]

    def warm_up(self) -> float:
        """Open the live index, load the encoder and every ranker the version has, and
        answer one query, so that the first real query pays for none of it (the server
        runs this in a background thread at startup). Returns the seconds it took."""
        started = time.perf_counter()
        service, _ = self.service()
        self.rankers()  # the learned ones load LightGBM and torch
        probe = next(iter(service.documents.values()), None)
        service.search(probe.name if probe is not None else "warm up", k=1)
        self.recommendations()  # fits the collaborative models on the event log
        seconds = time.perf_counter() - started
        log.info("warmed up in %.1f s", seconds)
        return seconds

    # -- near-real-time propagation of graph edits -------------------------------------------

    def sync(self) -> int:
        """Apply graph changes made since the live version was built (or last synced) to
        it in place; return how many products changed. Call after a catalog edit."""
        service, manifest = self.service()
        caught_up, self._opened_with = self._opened_with, 0
        return caught_up + self._catch_up(service, manifest)

    def _catch_up(self, service: SearchService, manifest: Manifest) -> int:
        if self._live_sync is None:
            from ingest.sync import LiveSync

            self._live_sync = LiveSync(graph=self.graph)
        return self._live_sync.catch_up(service, manifest, self.versions.dir / manifest.version)

    def maybe_sync(self, *, every_s: float = 1.0) -> None:
        """:meth:`sync` at most once per ``every_s`` (edits made by other processes)."""
        now = time.monotonic()
        if now - self._last_sync >= every_s:
            self._last_sync = now
            self.sync()

    # -- operations -------------------------------------------------------------------------

    def import_catalogue(self, path: Path, *, skip_invalid: bool = False) -> ImportReport:
        """Import a catalogue file through the catalogue's one import path
        (:meth:`catalogue.imports.ImportOps.run`): every row validated, then one atomic
        batch. Invalid rows refuse it unless ``skip_invalid``; so does a file without a
        single valid product. Raises :class:`~catalogue.validation.CatalogError`."""
        from catalogue.imports import NO_ROWS
        from catalogue.ops import CatalogOps
        from catalogue.validation import CatalogError

        ops = CatalogOps(store=self.graph, max_delete_share=self.settings.max_delete_share)
        report = ops.imports.run(
            path, actor=f"import:{path.name}", skip_invalid=skip_invalid, source=str(path)
        )
        if not report.imported:
            raise CatalogError([NO_ROWS])
        return report

    def judged(self, queries: Path | None = None, labels: Path | None = None) -> list[JudgedQuery]:
        from ingest.judgments import load_judgments

        queries = queries or self.catalogue_dir / "query.csv"
        labels = labels or self.catalogue_dir / "label.csv"
        if not queries.exists() or not labels.exists():
            return []
        return load_judgments(queries, labels)

    def reindex(self, *, progress: Progress = _quiet) -> Manifest:
        from ingest.reindex import IndexConfig, reindex

        config = IndexConfig(
            recall_k=self.settings.recall_k, keep_versions=self.settings.keep_versions
        )
        return reindex(
            kge_dir=self.kge_dir if (self.kge_dir / "meta.json").exists() else None,
            graph=self.graph,
            versions=self.versions,
            encoder=self.encoder,
            analyzer=self.analyzer,
            judged=self.judged(),
            config=config,
            backend=self.backend,
            progress=progress,
        )

    @property
    def kge_dir(self) -> Path:
        """Where `train-kge` leaves the catalogue graph's embeddings for the next reindex."""
        return self.home / "kge"

    def train_kge(
        self,
        *,
        model: str,
        dataset: str,
        device: str | None = None,
        epochs: int | None = None,
        progress: Progress = _quiet,
    ) -> dict[str, Any]:
        """Train TransE or ComplEx; on ``dataset="graph"`` save the artefact where the
        next reindex picks it up (``kgsearch reindex`` makes it live)."""
        from dataclasses import replace

        from kg.kge_config import default_config
        from kg.kge_training import train_benchmark, train_on_triples

        config = default_config(model, dataset)
        if device is not None:
            config = replace(config, device=device)
        if epochs is not None:
            config = replace(config, epochs=epochs)
        started = time.perf_counter()

        def epoch_progress(done: int, total: int) -> None:
            progress("epochs", done, total)

        if dataset == "graph":
            triples = list(self.graph.triples())
            embeddings = train_on_triples(
                triples, config=config, graph_revision=self.graph.revision, progress=epoch_progress
            )
            embeddings.save(self.kge_dir)
        else:
            embeddings = train_benchmark(dataset, config=config, progress=epoch_progress)  # type: ignore[arg-type]
        metrics = dict(embeddings.metrics)
        return {
            "model": embeddings.model,
            "dataset": dataset,
            "mrr": round(float(metrics.get("test_mrr", float("nan"))), 4),
            "hits@10": round(float(metrics.get("test_hits_at_10", float("nan"))), 4),
            "seconds": round(time.perf_counter() - started, 1),
            "device": str(embeddings.config.get("device", config.device)),
            "saved_to": str(self.kge_dir) if dataset == "graph" else None,
        }

    def rollback(self) -> str:
        with self.versions.locked():
            previous = self.versions.rollback()
            self.backend.activate(previous)
            return previous

    def make_ranker(self, name: str) -> Ranker:
        """Ranker ``name`` as the live index version holds it (learned ones from its files)."""
        from ranker.registry import make_ranker

        _, manifest = self.service()
        return make_ranker(
            name, manifest.rankers.get(name, {}), base=self.versions.dir / manifest.version
        )

    def rankers(self) -> dict[str, Ranker]:
        """Every ranker the live version has (the fixed fusions, and learned ones if trained)."""
        _, manifest = self.service()
        return {name: self.make_ranker(name) for name in manifest.rankers}

    def evaluate(
        self,
        *,
        split: str = "test",
        queries: Path | None = None,
        labels: Path | None = None,
        progress: Progress = _quiet,
    ) -> tuple[int, dict[str, SystemScores]]:
        from ingest.judgments import select_split
        from ingest.rankers import collect_runs
        from ranker.evaluation import evaluate

        judged = self.judged(queries, labels)
        if not judged:
            raise FileNotFoundError(
                f"no judgments: pass --queries and --labels, or run `kgsearch demo` "
                f"(it writes {self.catalogue_dir}/query.csv and label.csv)"
            )
        chosen = select_split(judged, split)
        service, _ = self.service()
        runs = collect_runs(service, chosen, progress)
        return len(chosen), evaluate(runs, self.rankers())

    # -- recommendations --------------------------------------------------------------------

    @property
    def events_path(self) -> Path:
        """The shop's behaviour log (JSONL events; the demo simulates one)."""
        return self.home / "events.jsonl"

    def recommendations(self) -> RecommendationService:
        """The recommendation service over the live index, the graph and the event log,
        built (collaborative models fitted) on first use and again when the live version,
        its products or the log change."""
        search, manifest = self.service()
        log_path = self.events_path
        log_stat = log_path.stat() if log_path.exists() else None
        stamp = (
            manifest.version,
            id(search),
            len(search.documents),
            None if log_stat is None else (log_stat.st_mtime_ns, log_stat.st_size),
        )
        cached = self._recs
        if cached is not None and cached[0] == stamp:
            return cached[1]
        with self._recs_lock:
            if self._recs is None or self._recs[0] != stamp:
                from ingest.events import read_events
                from recommend.live import from_search

                events: list[Any] = []
                if log_stat is not None:
                    read = read_events(log_path)
                    if read.errors:
                        log.warning(
                            "%s: %d invalid event line(s) skipped, first: %s",
                            log_path,
                            len(read.errors),
                            read.errors[0],
                        )
                    events = list(read.records)
                started = time.perf_counter()
                built = from_search(search, self.graph, events)
                log.info(
                    "recommendations built in %.2f s from %d events",
                    time.perf_counter() - started,
                    len(events),
                )
                self._recs = (stamp, built)
            return self._recs[1]

    def status(self) -> dict[str, Any]:
        live = self.versions.live()
        return {
            "home": str(self.home),
            "live_index": live,
            "versions": self.versions.names(),
            "graph_backend": self.settings.graph_backend,
            "search_backend": self.settings.search_backend,
            "graph_revision": self.graph.revision,
        }

    def close(self) -> None:
        if self._graph is not None:
            self._graph.close()
            self._graph = None
        self._live_sync = None  # it holds the closed graph

    def wipe(self) -> None:
        """Delete the graph, every index version and the generated catalogue under home."""
        self.graph.drop()
        self.backend.retain([])
        self.close()
        self._loaded = None
        self._recs = None
        for name in ("graph.sqlite", "graph.sqlite-wal", "graph.sqlite-shm", "events.jsonl"):
            (self.home / name).unlink(missing_ok=True)
        shutil.rmtree(self.home / "index", ignore_errors=True)
        shutil.rmtree(self.catalogue_dir, ignore_errors=True)
        self.versions = IndexVersions(root=self.home / "index")
