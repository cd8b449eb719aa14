"""The composition root: builds the graph store, encoder, index versions and search
service from :class:`Settings`, and offers the operations the CLI and API expose."""

from __future__ import annotations

import gc
import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.settings import Settings
from ingest.versions import IndexVersions, Manifest
from kg.store import GraphStore

# Everything else is imported where it is used, so that `kgsearch --help` and
# `kgsearch status` never load NumPy, torch, transformers, LightGBM or PyKEEN.
if TYPE_CHECKING:
    from catalogue.imports import ImportReport
    from ingest.event_import import EventImportReport
    from ingest.event_store import EventStore
    from ingest.events import EventBatch, ShopEvent
    from ingest.progress import Progress
    from ingest.sync import LiveSync
    from kg.rule_store import RuleStore
    from ranker.evaluation import JudgedQuery, SystemScores
    from ranker.fusion import Ranker
    from ranker.personal import PersonalModel
    from recommend.profiles import ProfileService
    from recommend.service import LiveHistory, Recommendations, RecommendationService
    from search.analysis import Analyzer
    from search.backends import IndexBackend
    from search.encoder import Encoder
    from search.personal import ShopperProfile
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


@dataclass(slots=True)
class _Fitted:
    """The served recommendation service and what it was fitted on."""

    stamp: tuple[object, ...]  # live version, search service, products, learned fusion
    service: RecommendationService
    seq: int  # the newest event it saw
    count: int  # how many events it saw
    at: float  # when (monotonic seconds)
    forced: bool = False  # refit at the next request (after an erasure)


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
        self._recs: _Fitted | None = None
        #: Set by ``kgsearch serve`` (:mod:`app.server`): after the warm-up and after each
        #: index version it opens later, the engine collects garbage once and freezes
        #: what is left (``gc.freeze``), so the collector stops re-scanning the hundreds of
        #: thousands of long-lived objects of the index (documents, graph facts, the
        #: vocabulary). Without it, a full collection at 50k products stalled every
        #: request of a worker for about half a second under load: p99 600 against 204 ms
        #: with 8 clients. Off for the CLI and tests, where a collection per open costs
        #: more than it saves.
        self.freeze_heap = False
        self._recs_lock = threading.Lock()
        self._refitting: threading.Thread | None = None
        self._erased_while_fitting: set[str] | None = None
        #: refit the recommendation models in a background thread (tests turn it off)
        self.refit_in_background = True
        self._profiles: tuple[int, ProfileService] | None = None
        self._profiles_lock = threading.Lock()
        self._events: EventStore | None = None
        self._events_lock = threading.Lock()
        self._rules: RuleStore | None = None  # merchandising rules (app.rules_ops)

    # -- parts ------------------------------------------------------------------------------

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = self._make_encoder()
        return self._encoder

    def _make_encoder(self) -> Encoder:
        """MiniLM on the runtime the settings ask for. ``auto``: ONNX Runtime when the
        device is the CPU and its model loads (exported into the model cache the first
        time, which imports torch once), else transformers; ``onnx`` fails loudly. A model
        folder in the settings (``encoder_model_dir``) runs on transformers."""
        from search.encoder import MiniLMEncoder

        runtime = self.settings.encoder_runtime
        if (model_dir := self.settings.encoder_model_dir) is not None:
            try:
                return MiniLMEncoder(model_dir=model_dir.expanduser(), device=self.settings.device)
            except ValueError as exc:
                raise ValueError(f"KGSEARCH_ENCODER_MODEL_DIR: {exc}") from None
        if runtime == "torch" or (runtime == "auto" and self.settings.device != "cpu"):
            return MiniLMEncoder(device=self.settings.device)  # loads on first encode
        try:
            from app.server import usable_cores
            from search.onnx_encoder import OnnxMiniLMEncoder, OnnxModelError

            onnx = OnnxMiniLMEncoder(
                cache_dir=self.settings.model_cache_dir,
                threads=self.settings.encoder_threads,
                batch_threads=self.settings.encoder_batch_threads or usable_cores(),
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
                if self.freeze_heap:
                    self._settle_heap()
            return self._loaded[1], self._loaded[2]

    def warm_up(self) -> float:
        """Open the live index, load the encoder and the default ranker, answer one query
        and fit the recommendations, so that the first real query pays for none of it (the
        server runs this in a background thread at startup). Returns the seconds it took.

        The other rankers load when a request names one (``/search?ranker=neural``): the
        neural ranker imports torch, about 480 MiB of a worker's memory at 50k products
        (1.77 against 1.29 GiB), which a server that only answers with its default
        ranker should not hold."""
        started = time.perf_counter()
        service, _ = self.service()
        probe = next(iter(service.documents.values()), None)
        service.search(probe.name if probe is not None else "warm up", k=1)
        self.recommendations()  # fits the collaborative models on the event log
        if self.freeze_heap:
            self._settle_heap()
        seconds = time.perf_counter() - started
        log.info("warmed up in %.1f s", seconds)
        return seconds

    def _settle_heap(self) -> None:
        """Collect once (the last version's cycles too), then freeze what is left."""
        started = time.perf_counter()
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        log.info(
            "%d long-lived objects frozen in %.2f s",
            gc.get_freeze_count(),
            time.perf_counter() - started,
        )

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
        caught = self._live_sync.catch_up(service, manifest, self.versions.dir / manifest.version)
        profiles = self._profiles
        if caught and profiles is not None and profiles[0] == id(service):
            profiles[1].drop_cached()  # built from documents that have changed since
        from app.rules_ops import refresh_rules

        refresh_rules(self, service)  # published rules reach search like edits do
        return caught

    @property
    def rule_store(self) -> RuleStore:
        """The merchandising rules, on the graph backend's kind of store."""
        if self._rules is None:
            from app.rules_ops import open_rule_store

            self._rules = open_rule_store(self.settings)
        return self._rules

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

    def reindex(
        self, *, progress: Progress = _quiet, reuse_vectors: bool = True, retrain: bool = False
    ) -> Manifest:
        """Build and switch to a new version; ``retrain`` trains the rankers even when the
        live version's were trained on the same inputs (see :mod:`ingest.ranker_reuse`)."""
        from ingest.reindex import IndexConfig, reindex
        from synthetic.typos import typo_variants

        config = IndexConfig(
            recall_k=self.settings.recall_k,
            keep_versions=self.settings.keep_versions,
            reuse_vectors=reuse_vectors,
            reuse_rankers=not retrain,
            train_variants=typo_variants,
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
            events=self._logged_events(),
        )

    def _logged_events(self) -> list[Any]:
        """Every event in the shop's event store (:attr:`events`), in arrival order: what
        ``POST /events``, ``kgsearch events import`` and the demo's simulated log recorded.
        Training reads the store, not a file, so what the shop reported live (and no
        erased shopper) is what the next model learns from."""
        return list(self.events.read())

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

    @property
    def recs_fusion_dir(self) -> Path:
        """Where the learned recommendation fusion is saved (the demo trains it)."""
        return self.home / "recs-fusion"

    #: Refit the recommendation models when the event store grew by this share since the
    #: last fit, or when it has any new event and the fit is older than RECS_REFIT_AFTER_S.
    RECS_REFIT_GROWTH = 0.10
    RECS_REFIT_AFTER_S = 600.0

    def recommendations(self) -> RecommendationService:
        """The recommendation service over the live index, the graph and the event store.

        Fitted (collaborative models, co-occurrence) on first use, and again at once when
        the live version, its products or the learned fusion change. Between fits, the
        events recorded since count at once through the service's live history (each
        request reads the shopper's new events from the store); the models are refitted in
        the background (:attr:`refit_in_background`) when the store grew by
        :attr:`RECS_REFIT_GROWTH`, when it has new events and the fit is older than
        :attr:`RECS_REFIT_AFTER_S`, and after an erasure."""
        search, manifest = self.service()
        fusion_meta = self.recs_fusion_dir / "meta.json"
        stamp = (
            manifest.version,
            id(search),
            len(search.documents),
            fusion_meta.stat().st_mtime_ns if fusion_meta.exists() else None,
        )
        fitted = self._recs
        if fitted is None or fitted.stamp != stamp:
            with self._recs_lock:
                if self._recs is None or self._recs.stamp != stamp:
                    self._recs = self._fit_recommendations(search, stamp)
                fitted = self._recs
        elif self._refit_due(fitted):
            if self.refit_in_background:
                self._start_refit(search, stamp)
            else:
                self._refit(search, stamp)
                fitted = self._recs or fitted
        return fitted.service

    def _fit_recommendations(self, search: SearchService, stamp: tuple[object, ...]) -> _Fitted:
        from recommend.live import from_search

        started = time.perf_counter()
        events = self.events.read()
        seq = events[-1].seq if events else 0
        # Neighbour tables saved beside the live version: the next process maps them
        # instead of rebuilding (about two minutes at 50k products).
        version = str(stamp[0])
        built = from_search(
            search,
            self.graph,
            events,
            fusion=self.recs_fusion_dir,
            tables_dir=self.versions.dir / version / "recs-tables",
        )
        profiles = self.profiles()

        def live(user_id: str) -> LiveHistory:
            profiles.refresh()  # keeps the graph's user edges current too
            return profiles.live_history(user_id, after=seq)

        built.live = live
        log.info(
            "recommendations built in %.2f s from %d events (up to seq %d)",
            time.perf_counter() - started,
            len(events),
            seq,
        )
        return _Fitted(stamp, built, seq, len(events), time.monotonic())

    def _refit_due(self, fitted: _Fitted) -> bool:
        if fitted.forced:
            return True
        grown = self.events.revision() - fitted.seq
        if grown <= 0:
            return False
        if grown >= max(1.0, self.RECS_REFIT_GROWTH * fitted.count):
            return True
        return time.monotonic() - fitted.at >= self.RECS_REFIT_AFTER_S

    def _start_refit(self, search: SearchService, stamp: tuple[object, ...]) -> None:
        with self._recs_lock:
            if self._refitting is not None and self._refitting.is_alive():
                return
            thread = threading.Thread(
                target=self._refit, args=(search, stamp), name="recs-refit", daemon=True
            )
            self._refitting = thread
        thread.start()

    def _refit(self, search: SearchService, stamp: tuple[object, ...]) -> None:
        """Fit anew from the event store and swap the result in; shoppers erased while it
        fitted are taken out of the new models too."""
        with self._recs_lock:
            self._erased_while_fitting = set()
        try:
            fresh = self._fit_recommendations(search, stamp)
        except Exception:
            log.exception("refitting the recommendations failed; serving the previous fit")
            return
        with self._recs_lock:
            for user in self._erased_while_fitting:
                fresh.service.forget_user(user)
            self._erased_while_fitting = None
            if self._recs is None or self._recs.stamp == stamp:
                self._recs = fresh

    # -- live shopper profiles ---------------------------------------------------------------

    def profiles(self) -> ProfileService:
        """Shopper profiles kept live from the event store and written to the graph as
        user nodes with weighted AFFINITY edges (:mod:`recommend.profiles`)."""
        search, _ = self.service()
        held = self._profiles
        if held is None or held[0] != id(search):
            with self._profiles_lock:
                if self._profiles is None or self._profiles[0] != id(search):
                    from recommend.profiles import ProfileService

                    service = ProfileService(
                        events=self.events,
                        documents=search.live_documents,  # edits reach profiles
                        graph=self.graph,
                        on_erased=self._forget_in_models,
                    )
                    self._profiles = (id(search), service)
                held = self._profiles
        return held[1]

    def recommend_session(self, session_id: str, *, k: int = 10, **options: Any) -> Recommendations:
        """Recommendations for an anonymous shopper from their session's events."""
        items = self.profiles().session_items(session_id)
        return self.recommendations().for_session(session_id, items, k=k, **options)

    def erase_user(self, user_id: str) -> dict[str, Any]:
        """Erase a shopper: their events (the event store and the behaviour log file), their
        profile (memory and the graph's user node and edges) and their row in the served
        recommendation models, which are then refitted without them. Raises
        ``ValueError`` for a malformed id. Returns what was erased."""
        from ingest.erasure import erase_from_log
        from kg.store import check_user_id

        check_user_id(user_id)
        events = self.events.erase_user(user_id)
        logged = erase_from_log(self.events_path, user_id)
        held = self._profiles[1].forget(user_id) if self._profiles is not None else False
        profile = self.graph.delete_user(user_id) or held  # also without a live index
        model = self._forget_in_models(user_id)
        return {
            "user_id": user_id,
            "events": events,
            "log_lines": logged,
            "profile": profile,
            "recommendation_row": model,
        }

    def _forget_in_models(self, user_id: str) -> bool:
        """Take an erased shopper out of the served recommendation models (and out of a
        refit under way) and force a refit; drop the search side's cache of the log."""
        model = False
        with self._recs_lock:
            if self._recs is not None:
                model = self._recs.service.forget_user(user_id)
                self._recs.forced = True
            if self._erased_while_fitting is not None:
                self._erased_while_fitting.add(user_id)
        self._user_events = None
        return model

    # -- personalised search ---------------------------------------------------------------

    def shopper_profile(self, user_id: str) -> ShopperProfile:
        """The shopper's live profile for search (:meth:`profiles`; empty for a shopper
        without events, so the search is not personalised and says so)."""
        return self.profiles().profile(user_id)

    def train_personal(self, *, until: float | None = None) -> PersonalModel:
        """Train the live version's personal stage (``ranker.personal``) on the search
        sessions in the event store (those before ``until`` when given), save it into the
        version and serve it from the next query on."""
        from ingest.personal_training import train_personal_model

        events = self._logged_events()
        if not events:
            raise ValueError(
                "the event store is empty: record shopper events first (`POST /events`, "
                "`kgsearch events import FILE.jsonl`), or run `kgsearch demo`, which "
                "simulates shoppers"
            )
        service, manifest = self.service()
        ranker = self.settings.ranker or manifest.default_ranker
        model = train_personal_model(
            service,
            events,
            ranker_name=ranker,
            until=until,
            save_to=self.versions.dir / manifest.version,
        )
        service.personal = model
        return model

    # -- shop events -------------------------------------------------------------------------

    @property
    def events(self) -> EventStore:
        """The shop's event store: ``<home>/events.sqlite`` on the embedded default, the
        ``<prefix>-events`` data stream when the search backend is Elasticsearch."""
        if self._events is None:
            with self._events_lock:
                if self._events is None:
                    self._events = self._make_event_store()
        return self._events

    def _make_event_store(self) -> EventStore:
        if self.settings.search_backend == "elasticsearch":
            from ingest.es_event_store import ElasticsearchEventStore

            return ElasticsearchEventStore(
                url=self.settings.elasticsearch_url,
                prefix=self.settings.elasticsearch_prefix,
                retention_days=self.settings.events_retention_days,
            )
        from ingest.event_store import SQLiteEventStore

        return SQLiteEventStore(path=self.home / "events.sqlite")

    def drop_events(self) -> None:
        """Delete every event in the store (the demo's simulated log replaces them)."""
        self.events.drop()

    def record_events(
        self,
        events: Sequence[ShopEvent] | EventBatch,
        *,
        skip_invalid: bool = False,
        max_age_days: float | None = None,
        source: str = "events",
        now: float | None = None,
    ) -> EventImportReport:
        """Check shop events against the live index's products and the time rules
        (:func:`ingest.events.check_events`; ``max_age_days`` defaults to the settings')
        and append them to :attr:`events` atomically. An invalid event refuses the whole
        batch unless ``skip_invalid``: raises :class:`~ingest.event_import.EventsRefused`."""
        from ingest.event_import import record_batch
        from ingest.events import EventBatch

        if not isinstance(events, EventBatch):
            events = EventBatch(tuple(events), tuple(range(len(events))), ())
        service, _ = self.service()
        return record_batch(
            self.events,
            events,
            products=service.documents,
            now=time.time() if now is None else now,
            max_age_days=(
                self.settings.events_max_age_days if max_age_days is None else max_age_days
            ),
            skip_invalid=skip_invalid,
            source=source,
        )

    def import_events(
        self,
        path: Path,
        *,
        skip_invalid: bool = False,
        max_age_days: float | None = None,
        progress: Progress = _quiet,
    ) -> EventImportReport:
        """Read a JSONL file of shop events (line numbers in the errors) and record them
        as one batch: all or, with ``skip_invalid``, the valid ones."""
        from ingest.events import read_shop_events

        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        batch = read_shop_events(path, progress=lambda d, t: progress("read", d, t))
        return self.record_events(
            batch, skip_invalid=skip_invalid, max_age_days=max_age_days, source=str(path)
        )

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
        if self._refitting is not None:
            self._refitting.join(timeout=60.0)
        if self._graph is not None:
            self._graph.close()
            self._graph = None
        self._live_sync = None  # it holds the closed graph
        if self._events is not None:
            self._events.close()
            self._events = None
        if self._rules is not None:
            self._rules.close()
            self._rules = None

    def wipe(self) -> None:
        """Delete the graph, every index version, the event store and the generated
        catalogue under home."""
        self.graph.drop()
        self.backend.retain([])
        self.events.drop()
        self.rule_store.drop()
        self.close()
        self._loaded = None
        self._recs = None
        self._profiles = None
        for name in (
            "graph.sqlite",
            "graph.sqlite-wal",
            "graph.sqlite-shm",
            "events.jsonl",
            "events.sqlite",
            "events.sqlite-wal",
            "events.sqlite-shm",
        ):
            (self.home / name).unlink(missing_ok=True)
        shutil.rmtree(self.home / "index", ignore_errors=True)
        shutil.rmtree(self.catalogue_dir, ignore_errors=True)
        self.versions = IndexVersions(root=self.home / "index")
