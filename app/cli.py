"""``kgsearch``: one console script, thin subcommands over library functions.

Exit codes: 0 success, 1 failure (e.g. no index yet), 2 bad input (bad query, invalid
catalogue rows, a missing file, unknown filter or ranker).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from app.catalog_cli import catalog_app
from app.engine import Engine
from app.progress import progress_bars
from app.settings import Settings
from ingest.formats import CatalogueError
from ingest.versions import NoIndexError
from kg.store import BackendUnavailable, GraphError
from ranker.evaluation import METRICS, SystemScores, report
from search.filters import UnknownFilter
from search.service import InvalidQuery

app = typer.Typer(
    name="kgsearch",
    help="Knowledge-graph-centric product search: build, index, evaluate and serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(catalog_app, name="catalog")
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

SizeOpt = Annotated[str, typer.Option("--size", help="tiny (~200), demo (~5k) or bench (50k).")]


class _State:
    home: Path | None = None
    quiet: bool = False


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn domain errors into a message on stderr and an exit code."""
    try:
        yield
    except (InvalidQuery, UnknownFilter, CatalogueError, GraphError) as exc:
        _fail(str(exc), 2)
    except ValidationError as exc:
        _fail(f"invalid settings: {exc}", 2)
    except FileNotFoundError as exc:
        _fail(str(exc), 2)
    except (NoIndexError, BackendUnavailable) as exc:
        _fail(str(exc), 1)
    except ValueError as exc:
        _fail(str(exc), 2)


def _engine() -> Engine:
    overrides: dict[str, Any] = {}
    if _State.home is not None:
        overrides["home"] = _State.home
    return Engine(Settings(**overrides))


@app.callback()
def _main(
    home: Annotated[
        Path | None,
        typer.Option(
            "--home", help="Data directory (default: $KGSEARCH_HOME).", show_default=False
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    _State.home, _State.quiet = home, quiet
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


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

    with _errors(), progress_bars(err, enabled=not _State.quiet) as progress:
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
    with _errors():
        engine = _engine()
        report = engine.import_catalogue(file, skip_invalid=skip_invalid)
    for row in report.skipped:
        err.print(f"skipped {row}", highlight=False)
    out.print(
        json.dumps(
            {
                "imported": report.imported,
                "skipped": len(report.skipped),
                "graph_revision": report.graph_revision,
            }
        )
    )


@app.command()
def reindex(
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Make the previous version live again.")
    ] = False,
) -> None:
    """Build a new index version from the graph, check it, then switch to it atomically."""
    with _errors():
        engine = _engine()
        if rollback:
            name = engine.rollback()
            out.print(json.dumps({"live": name, "rolled_back": True}))
            return
        with progress_bars(err, enabled=not _State.quiet) as progress:
            manifest = engine.reindex(progress=progress)
    out.print(
        json.dumps(
            {
                "live": manifest.version,
                "products": manifest.products,
                "graph_revision": manifest.graph_revision,
                "seconds": {k: round(v, 2) for k, v in manifest.seconds.items()},
                "rankers": manifest.rankers,
            }
        )
    )


def _search_json(engine: Engine, query: str, k: int, ranker: str | None) -> dict[str, Any]:
    from app.api import parse_filters
    from app.schemas import SearchOut

    engine.sync()  # edits made since the last search, by any process
    service, manifest = engine.service()
    chosen = engine.make_ranker(ranker) if ranker else None
    result = service.search(query, k=k, ranker=chosen, filters=parse_filters([]) or None)
    return SearchOut.of(result, index_version=manifest.version).model_dump()


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="The query, as a shopper would type it.")],
    k: Annotated[int, typer.Option("--k", "-k", help="Number of hits (1-1000).")] = 10,
    ranker: Annotated[str | None, typer.Option(help="bm25, dense, rrf or linear.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search the live index."""
    with _errors():
        body = _search_json(_engine(), query, k, ranker)
    if as_json:
        print(json.dumps(body, indent=2))
        return
    table = Table(title=f"{body['query']!r}: {body['total']} results, {body['took_ms']} ms")
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


def _table(split: str, n: int, systems: dict[str, SystemScores]) -> Table:
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
    with _errors():
        engine = _engine()
        with progress_bars(err, enabled=not _State.quiet) as progress:
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
        with progress_bars(err, enabled=not _State.quiet) as progress:
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
        with progress_bars(err, enabled=not _State.quiet) as progress:
            manifest = engine.reindex(progress=progress)
    print(
        json.dumps(
            {
                "live": manifest.version,
                "default_ranker": manifest.default_ranker,
                "ndcg@10": {
                    split: {name: s["ndcg@10"] for name, s in systems.items()}
                    for split, systems in manifest.evaluation.items()
                },
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
    from ingest.behaviour import read_events
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


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Serve the JSON API (OpenAPI docs at /docs)."""
    with _errors():
        engine = _engine()
        _serve(engine, host or engine.settings.host, port or engine.settings.port)


def _serve(engine: Engine, host: str, port: int) -> None:
    import uvicorn

    from app.api import create_app

    engine.service()  # load the index and fail fast if there is none
    err.print(f"serving on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    uvicorn.run(create_app(engine), host=host, port=port, log_level="info")


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
        with progress_bars(err, enabled=not _State.quiet) as progress:
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
        if serve_after:
            _serve(engine, engine.settings.host, port or engine.settings.port)


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
