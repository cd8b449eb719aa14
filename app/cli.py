"""``kgsearch``: one console script, thin subcommands over library functions.

Exit codes: 0 success, 1 failure (e.g. no index yet), 2 bad input (bad query, invalid
catalogue rows, a missing file, unknown filter or ranker).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from app.catalog_cli import catalog_app
from app.events_cli import events_app
from app.explain_cli import explain_command
from app.recommend_cli import recommend_app
from app.rules_cli import rules_app
from app.users_cli import users_app

# Only typer and rich at the top: every command imports what it uses, so `kgsearch --help`
# and `kgsearch status` start in well under a second (tests/app/test_imports.py checks
# that torch, transformers, PyKEEN, LightGBM and scikit-learn stay out).
if TYPE_CHECKING:
    from rich.table import Table

    from app.engine import Engine
    from ingest.progress import Progress
    from ranker.evaluation import SystemScores

app = typer.Typer(
    name="kgsearch",
    help="Knowledge-graph-centric product search: build, index, evaluate and serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(catalog_app, name="catalog")
app.add_typer(recommend_app, name="recommend")
app.add_typer(events_app, name="events")
app.add_typer(users_app, name="users")
app.add_typer(rules_app, name="rules")
app.command("explain")(explain_command)
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

SizeOpt = Annotated[str, typer.Option("--size", help="tiny (~200), demo (~5k) or bench (50k).")]


class _State:
    home: Path | None = None
    quiet: bool = False
    verbose: bool = False


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn domain errors into a message on stderr and an exit code."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        failure = _failure(exc)
        if failure is None:
            raise
        _fail(*failure)


def _failure(exc: Exception) -> tuple[str, int] | None:
    """The message and exit code for a domain error; None for any other exception. The
    error classes are imported here, once one was raised: imported at the top, they
    would make every command (`--help` too) load the search stack."""
    from pydantic import ValidationError

    from ingest.formats import CatalogueError
    from ingest.versions import BuildCheckError, NoIndexError
    from kg.store import BackendUnavailable, GraphError
    from search.filters import UnknownFilter
    from search.service import InvalidQuery

    if isinstance(exc, InvalidQuery | UnknownFilter | CatalogueError | GraphError):
        return str(exc), 2
    if isinstance(exc, ValidationError):
        return f"invalid settings: {exc}", 2
    if isinstance(exc, FileNotFoundError):
        return str(exc), 2
    if isinstance(exc, NoIndexError | BackendUnavailable | BuildCheckError):
        return str(exc), 1
    if isinstance(exc, ValueError):
        return str(exc), 2
    return None


def _engine() -> Engine:
    from app.engine import Engine
    from app.settings import Settings

    overrides: dict[str, Any] = {}
    if _State.home is not None:
        overrides["home"] = _State.home
    settings = Settings(**overrides)
    if not _State.verbose and settings.log_level is not None:
        _configure_logging(settings.log_level)  # KGSEARCH_LOG_LEVEL may also come from .env
    return Engine(settings)


def _progress() -> AbstractContextManager[Progress]:
    """Progress bars on stderr (none with --quiet)."""
    from app.progress import progress_bars

    return progress_bars(err, enabled=not _State.quiet)


#: Levels KGSEARCH_LOG_LEVEL takes (app.settings.Settings.log_level).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _configure_logging(level: str) -> None:
    """One level for every logger, ours and the libraries' (PyKEEN, torch, LightGBM, httpx,
    Elasticsearch, Neo4j...): WARNING unless -v or KGSEARCH_LOG_LEVEL says otherwise. The
    level is set on the stderr handler too, because some libraries set their own loggers'
    levels when imported (PyKEEN sets INFO on ``pykeen``): their records still reach the
    handler, which drops those below ``level``. Like ``logging.basicConfig``, it leaves
    alone a process that configured logging itself (a test runner, say)."""
    numeric = logging.getLevelName(level)
    root = logging.getLogger()
    ours = [h for h in root.handlers if h.get_name() == "kgsearch"]
    if root.handlers and not ours:
        return
    if not ours:
        stderr = logging.StreamHandler()  # stdout is for results
        stderr.set_name("kgsearch")
        stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(stderr)
        ours = [stderr]
    root.setLevel(numeric)
    for handler in ours:
        handler.setLevel(numeric)


@app.callback()
def _main(
    home: Annotated[
        Path | None,
        typer.Option(
            "--home", help="Data directory (default: $KGSEARCH_HOME).", show_default=False
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Debug logging (default: warnings only, or $KGSEARCH_LOG_LEVEL).",
        ),
    ] = False,
) -> None:
    _State.home, _State.quiet, _State.verbose = home, quiet, verbose
    level = "DEBUG" if verbose else os.environ.get("KGSEARCH_LOG_LEVEL", "WARNING").upper()
    if level not in LOG_LEVELS:
        _fail(f"KGSEARCH_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {level!r}", 2)
    _configure_logging(level)


def _check_size(size: str) -> str:
    if size not in ("tiny", "demo", "bench"):
        _fail(f"--size must be tiny, demo or bench, not {size!r}", 2)
    return size


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the three files.")],
    size: SizeOpt = "tiny",
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same catalogue.")] = 13,
) -> None:
    """Write a generated catalogue as WANDS files: product.csv, query.csv, label.csv."""
    from app.demo import write_generated

    with _errors(), _progress() as progress:
        counts = write_generated(out_dir, size=_check_size(size), seed=seed, progress=progress)
    out.print(json.dumps({"out": str(out_dir), **counts}))


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="product.csv (WANDS, tab-separated) or .jsonl")],
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the valid rows, report the rest.")
    ] = False,
) -> None:
    """Validate and import products into the graph (all rows or, with --skip-invalid, the
    valid ones). Run `kgsearch reindex` afterwards to make them searchable."""
    from catalogue.validation import CatalogError

    with _errors():
        engine = _engine()
        try:
            report = engine.import_catalogue(file, skip_invalid=skip_invalid)
        except CatalogError as exc:
            rows = [i for i in exc.issues if i.rule != "all_or_nothing"]
            if not any(i.rule in ("all_or_nothing", "not_empty") for i in exc.issues):
                raise
            shown = "\n".join(f"  {i}" for i in rows[:20])
            more = f"\n  ... and {len(rows) - 20} more" if len(rows) > 20 else ""
            _fail(
                f"{file}: {len(rows)} invalid row(s); nothing was imported.\n{shown}{more}\n"
                "Fix the rows, or pass --skip-invalid to import only the valid ones.",
                2,
            )
    for row in report.invalid:
        err.print(f"skipped {row}", highlight=False)
    out.print(
        json.dumps(
            {
                "imported": report.imported,
                "skipped": len(report.invalid),
                "graph_revision": report.revision,
            }
        )
    )


@app.command()
def reindex(
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Make the previous version live again.")
    ] = False,
    reencode: Annotated[
        bool,
        typer.Option(
            "--reencode",
            help="Encode every product again instead of reusing the live version's vectors "
            "of unchanged products.",
        ),
    ] = False,
    retrain: Annotated[
        bool,
        typer.Option(
            "--retrain",
            help="Train the rankers and personal stage again even when the live version's "
            "were trained on the same documents, judgments, settings and code.",
        ),
    ] = False,
) -> None:
    """Build a new index version from the graph, check it, then switch to it atomically.
    Vectors of products whose text and encoder are unchanged are reused from the live one,
    and so are its trained rankers when nothing they were trained on changed."""
    with _errors():
        engine = _engine()
        if rollback:
            name = engine.rollback()
            out.print(json.dumps({"live": name, "rolled_back": True}))
            return
        with _progress() as progress:
            manifest = engine.reindex(
                progress=progress, reuse_vectors=not reencode, retrain=retrain
            )
    out.print(
        json.dumps(
            {
                "live": manifest.version,
                "products": manifest.products,
                "graph_revision": manifest.graph_revision,
                "vectors": {
                    "encoded": manifest.vectors_encoded,
                    "reused": manifest.vectors_reused,
                },
                "seconds": {k: round(v, 2) for k, v in manifest.seconds.items()},
                "rankers": manifest.rankers,
                "rankers_reused_from": manifest.rankers_reused_from,
            }
        )
    )


def _search_json(
    engine: Engine,
    query: str,
    k: int,
    ranker: str | None,
    user: str | None = None,
    *,
    exact: bool = False,
    explain: bool = False,
) -> dict[str, Any]:
    from app.schemas import SearchOut

    engine.sync()  # edits made since the last search, by any process
    service, manifest = engine.service()
    chosen = engine.make_ranker(ranker) if ranker else None
    profile = engine.shopper_profile(_user_id(user)) if user is not None else None
    result = service.search(
        query, k=k, ranker=chosen, filters=None, profile=profile, exact=exact, explain=explain
    )
    return SearchOut.of(result, index_version=manifest.version, user=user).model_dump()


def _user_id(user: str) -> str:
    import re

    from ingest.events import USER_ID_PATTERN

    if not re.fullmatch(USER_ID_PATTERN, user):
        raise typer.BadParameter(
            f"{user!r} is not a user id: letters, digits and _.:@- (at most 128), "
            "starting with a letter or digit",
            param_hint="--user",
        )
    return user


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="The query, as a shopper would type it.")],
    k: Annotated[int, typer.Option("--k", "-k", help="Number of hits (1-1000).")] = 10,
    ranker: Annotated[str | None, typer.Option(help="bm25, dense, rrf or linear.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    user: Annotated[
        str | None, typer.Option(help="Personalise for this shopper (e.g. u00042).")
    ] = None,
    exact: Annotated[
        bool, typer.Option("--exact", help="Search as typed: no spelling correction or fuzziness.")
    ] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Give each hit its contributions (with --json); `kgsearch explain` words them.",
        ),
    ] = False,
) -> None:
    """Search the live index."""
    from rich.table import Table

    with _errors():
        body = _search_json(_engine(), query, k, ranker, user, exact=exact, explain=explain)
    if as_json:
        print(json.dumps(body, indent=2))
        return
    searched = f" (searched for {body['corrected_query']!r})" if body["corrected_query"] else ""
    table = Table(
        title=f"{body['query']!r}{searched}: {body['total']} results, {body['took_ms']} ms"
    )
    for col in ("#", "product", "name", "brand", "score", "bm25", "dense"):
        table.add_column(col)
    for hit in body["hits"]:
        table.add_row(
            str(hit["rank"]),
            hit["product_id"],
            hit["name"],
            hit["brand"] or "",
            f"{hit['score']:.4f}",
            f"{hit['signals']['bm25']:.2f}",
            f"{hit['signals']['dense']:.3f}",
        )
    out.print(table)
    for note in body["notes"]:
        err.print(f"note: {note}", highlight=False)


def _table(split: str, n: int, systems: dict[str, SystemScores]) -> Table:
    from rich.table import Table

    from ranker.evaluation import METRICS

    table = Table(title=f"split {split}: {n} judged queries")
    table.add_column("system")
    for metric in METRICS:
        table.add_column(metric, justify="right")
    table.add_column("NDCG@10 95% CI", justify="right")
    for name, scores in systems.items():
        lo, hi = scores.ndcg_interval()
        table.add_row(name, *(f"{scores.means[m]:.4f}" for m in METRICS), f"{lo:.3f}-{hi:.3f}")
    return table


@app.command()
def evaluate(
    split: Annotated[str, typer.Option(help="train, valid, test, or all.")] = "test",
    queries: Annotated[Path | None, typer.Option(help="WANDS query.csv.")] = None,
    labels: Annotated[Path | None, typer.Option(help="WANDS label.csv.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """NDCG@10, Recall@100 and MRR of every registered fusion system on judged queries."""
    if (queries is None) != (labels is None):
        _fail("pass --queries and --labels together", 2)
    if queries is not None and split == "test":
        split = "all"  # external judgments have no split column unless they say so
    from ranker.evaluation import report

    with _errors():
        engine = _engine()
        with _progress() as progress:
            n, systems = engine.evaluate(
                split=split, queries=queries, labels=labels, progress=progress
            )
    if as_json:
        print(json.dumps(report(split, n, systems), indent=2))
        return
    out.print(_table(split, n, systems))
    body = report(split, n, systems)
    for name, test in dict(body.get("vs_best_baseline", {})).items():  # type: ignore[call-overload]
        out.print(
            f"{name} vs {test['baseline']}: NDCG@10 {test['delta_ndcg@10']:+.4f} "
            f"(paired randomisation p = {test['p_value']:.4f}, {test['queries']} queries)"
        )


@app.command("train-kge")
def train_kge(
    model: Annotated[
        str, typer.Option(help="TransE or ComplEx (PyKEEN's model names).")
    ] = "TransE",
    dataset: Annotated[
        str, typer.Option(help="graph (the catalogue), or nations, kinships, umls (PyKEEN's).")
    ] = "graph",
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto (default: auto).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Override the tuned epoch count.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Train knowledge-graph embeddings with early stopping on validation MRR. On the
    catalogue graph the artefact goes to <home>/kge; `kgsearch reindex` makes it live."""
    with _errors():
        engine = _engine()
        with _progress() as progress:
            result = engine.train_kge(
                model=model, dataset=dataset, device=device, epochs=epochs, progress=progress
            )
    if as_json:
        print(json.dumps(result))
    else:
        out.print(
            f"{result['model']} on {result['dataset']}: MRR {result['mrr']:.4f}, "
            f"Hits@10 {result['hits@10']:.4f}, {result['seconds']} s on {result['device']}"
        )


@app.command("train-ranker")
def train_ranker() -> None:
    """Retrain the fusion rankers (linear, lambdamart, lambdamart-nokg, neural) on the
    train split, stopping early on valid. Builds a new index version, so queries never
    see a half-trained ranker; prints each ranker's valid/test NDCG@10."""
    with _errors():
        engine = _engine()
        if not engine.judged():
            _fail(f"no judgments in {engine.catalogue_dir}: run `kgsearch demo` first", 2)
        with _progress() as progress:
            manifest = engine.reindex(progress=progress, retrain=True)
        check = engine.versions.dir / manifest.version / "rankers" / "valid_check.json"
        rows = json.loads(check.read_text()) if check.exists() else []
    print(
        json.dumps(
            {
                "live": manifest.version,
                "default_ranker": manifest.default_ranker,
                "ndcg@10": {
                    split: {name: s["ndcg@10"] for name, s in systems.items()}
                    for split, systems in manifest.evaluation.items()
                },
                # Query kinds where a learned ranker trails BM25 or BERT alone on valid.
                "valid_kinds_behind_a_single_signal": [r for r in rows if r["worse"]],
            },
            indent=2,
        )
    )


@app.command("ab-report")
def ab_report_command(
    events: Annotated[
        Path, typer.Argument(help="Behaviour events, JSONL (impressions, clicks, ...).")
    ],
    control: Annotated[str, typer.Option(help="The control variant.")] = "rrf",
    bootstrap: Annotated[int, typer.Option(help="User-level bootstrap resamples (0 = off).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """CTR and conversion per ranker variant with 95% intervals, and each variant's lift
    over the control with a two-proportion z-test."""
    from ingest.events import read_events
    from ranker.ab import ab_report

    with _errors():
        if not events.exists():
            raise FileNotFoundError(f"{events} does not exist")
        result = read_events(events)
        for row in result.errors[:20]:
            err.print(f"skipped {row}", highlight=False)
        report = ab_report(result.records, control=control, bootstrap=bootstrap, seed=0)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        out.print(report.to_markdown(), highlight=False)


@app.command("train-personal")
def train_personal_command() -> None:
    """Train the live index's personal stage (user features over the default ranker) on
    the search sessions in the event store; `search --user` uses it at once."""
    with _errors():
        model = _engine().train_personal()
    print(json.dumps({"weights": dict(model.weights), "meta": dict(model.meta)}, indent=2))


@app.command("exposure-report")
def exposure_report_command(
    events: Annotated[
        Path | None,
        typer.Argument(help="Behaviour events, JSONL (impressions); default: the event store."),
    ] = None,
    top: Annotated[int, typer.Option(help="Brands listed per variant.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Brand exposure per variant: share of impressions vs share of the live catalogue,
    and the Gini of impressions over brands (over the event store's impressions, or a
    file's)."""
    from ingest.events import read_events
    from ranker.exposure import ImpressionLike, exposure_report

    with _errors():
        engine = _engine()
        logged: list[ImpressionLike]
        if events is None:
            logged = [e for e in engine.events.read() if e.type == "impression"]
        else:
            if not events.exists():
                raise FileNotFoundError(f"{events} does not exist")
            result = read_events(events)
            for row in result.errors[:20]:
                err.print(f"skipped {row}", highlight=False)
            logged = list(result.records)
        service, _ = engine.service()
        brands = {pid: doc.brand for pid, doc in service.documents.items()}
        report = exposure_report(logged, brands)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        out.print(report.to_markdown(top=top), highlight=False)


@app.command("evaluate-recs")
def evaluate_recs_command(
    dataset: Annotated[str, typer.Option(help="The data set (lastfm-kg).")] = "lastfm-kg",
    data_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="KGSEARCH_LASTFM_KG",
            help="The data set's folder (default: shared/ beside the repository).",
        ),
    ] = None,
    seeds: Annotated[str, typer.Option(help="Comma-separated split seeds.")] = "0,1,2",
    protocol: Annotated[
        list[str] | None, typer.Option(help="topk, ctr, cold (repeatable; default: all).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Recommendation protocols on real data (top-K, KGCN's CTR, item cold start): the
    baselines tuned on validation and the KG-aware fused model, means over the seeds."""
    from recommend.evaluation import evaluate_recs, summary_table

    with _errors():
        try:
            seed_list = [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError:
            raise ValueError(f"--seeds must be comma-separated integers, got {seeds!r}") from None

        def report(message: str) -> None:
            if not _State.quiet:
                err.print(message, highlight=False)

        result = evaluate_recs(
            dataset,
            data_dir=data_dir,
            seeds=seed_list,
            protocols=tuple(protocol or ("topk", "ctr", "cold")),
            progress=report,
        )
    if as_json:
        print(json.dumps(result, indent=2, default=float))
        return
    from rich.table import Table

    table = Table(title=f"{dataset}: means over seeds {seed_list}")
    for column in ("protocol", "model", "metric", "mean"):
        table.add_column(column, justify="right" if column == "mean" else "left")
    for row in summary_table(result):
        table.add_row(*row)
    out.print(table)
    for name, goal in result["goals"].items():
        out.print(f"goal {name}: {'met' if goal['met'] else 'MISSED'} {goal}", highlight=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=64,
            help="Worker processes (default KGSEARCH_WORKERS; 0: one per CPU core).",
        ),
    ] = None,
) -> None:
    """Serve the JSON API (OpenAPI docs at /docs)."""
    with _errors():
        engine = _engine()
        _serve(engine, host or engine.settings.host, port or engine.settings.port, workers)


def _serve(engine: Engine, host: str, port: int, workers: int | None = None) -> None:
    from app.server import serve, worker_count

    engine.versions.live_path()  # fail fast if there is no index; the app warms up on start
    processes = worker_count(engine.settings.workers if workers is None else workers)
    err.print(
        f"serving on http://{host}:{port} with {processes} worker process(es)  "
        f"(API docs: http://{host}:{port}/docs)"
    )
    serve(engine, host, port, workers=processes)  # access log: INFO


@app.command()
def demo(
    size: SizeOpt = "tiny",
    seed: Annotated[int, typer.Option(help="Catalogue seed.")] = 13,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API when done.")
    ] = True,
    port: Annotated[int | None, typer.Option(help="Port to serve on.")] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Delete the graph and index in --home first.")
    ] = False,
) -> None:
    """Generate a catalogue, build the graph, index, tune, evaluate, answer queries, serve."""
    from app.demo import prepare_demo

    with _errors():
        engine = _engine()
        with _progress() as progress:
            summary = prepare_demo(
                engine, size=_check_size(size), seed=seed, progress=progress, fresh=fresh
            )
        out.print(f"[bold]kgsearch demo[/] in {engine.home}: {json.dumps(summary['build'])}")
        n, systems = engine.evaluate(split="test")
        out.print(_table("test", n, systems))
        for query in summary["sample_queries"]:
            body = _search_json(engine, query, 3, None)
            names = "; ".join(f"{h['name']} ({h['product_id']})" for h in body["hits"])
            out.print(f"[bold]{query!r}[/] -> {names}", highlight=False)
        _demo_recommendations(engine)
        if serve_after:
            _serve(engine, engine.settings.host, port or engine.settings.port)


def _demo_recommendations(engine: Engine) -> None:
    """One "similar items" and one "for you" example (a shopper of the simulated log)."""
    recs = engine.recommendations()
    users = recs.behaviour.interactions.users
    if not users:
        return
    history = recs.behaviour.user_items(users[0])
    product = recs.space.items[history[0][0]]
    for label, result in (
        (f"similar to {product}", recs.similar(product, k=3)),
        (f"for shopper {users[0]}", recs.for_user(users[0], k=3)),
    ):
        shown = "; ".join(f"{i.name} ({i.product_id}: {i.reason})" for i in result.items)
        out.print(f"[bold]{label}[/] -> {shown}", highlight=False)


@app.command()
def status() -> None:
    """Where the data lives, which index version is live, the graph revision."""
    with _errors():
        print(json.dumps(_engine().status(), indent=2))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
