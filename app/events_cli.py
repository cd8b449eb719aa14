"""``kgsearch events ...``: import shopper events from a JSONL file, and the store's figures.

Exit codes as the rest of the CLI: 0 done, 1 failure (no index yet, a backend down),
2 bad input (a missing file; invalid events refuse the import and are listed per line).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["events_app"]

events_app = typer.Typer(
    name="events",
    help="Shopper events (views, clicks, add-to-cart, purchases): import and inspect.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@events_app.command("import")
def import_events(
    file: Annotated[Path, typer.Argument(help="Shop events, JSONL (one event a line).")],
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Record the valid events, report the rest.")
    ] = False,
    max_age_days: Annotated[
        float | None,
        typer.Option(
            "--max-age-days",
            min=0.001,
            help="Oldest event accepted, in days (default: settings, 1095); raise it for "
            "a historical backfill.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check every line (the event schema, a product of the live index, a plausible ts)
    and record the events in one atomic append; any invalid line refuses the whole file
    unless --skip-invalid. Repeated event ids are counted as duplicates, not stored."""
    from app.cli import _engine, _errors, _fail, _progress, err
    from ingest.event_import import EventsRefused, rejection

    with _errors():
        engine = _engine()
        try:
            with _progress() as progress:
                report = engine.import_events(
                    file, skip_invalid=skip_invalid, max_age_days=max_age_days, progress=progress
                )
        except EventsRefused as exc:
            if as_json:
                body = {
                    "source": exc.source,
                    "received": exc.received,
                    "refused": True,
                    "rejected": [rejection(e) for e in exc.errors],
                }
                print(json.dumps(body, indent=2))
            _fail(str(exc), 2)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
        return
    for row in report.rejected[:20]:
        err.print(f"skipped {row}", highlight=False)
    if len(report.rejected) > 20:
        err.print(f"... and {len(report.rejected) - 20} more skipped", highlight=False)
    summary = {k: v for k, v in report.as_dict().items() if k != "rejected"}
    print(json.dumps({**summary, "skipped": len(report.rejected)}))


@events_app.command("stats")
def stats(as_json: JsonOpt = False) -> None:
    """How many events the store holds, its revision, and where it is."""
    from app.cli import _engine, _errors, out

    with _errors():
        engine = _engine()
        store, settings = engine.events, engine.settings
        if settings.search_backend == "elasticsearch":
            location = f"{settings.elasticsearch_url} {settings.elasticsearch_prefix}-events"
        else:
            location = str(engine.home / "events.sqlite")
        body = {
            "store": type(store).__name__,
            "location": location,
            "events": store.count(),
            "revision": store.revision(),
        }
    if as_json:
        print(json.dumps(body, indent=2))
    else:
        for key, value in body.items():
            out.print(f"{key:>9}: {value}", highlight=False)
