"""``kgsearch users ...``: what the engine believes about a shopper, and erasing one.

Exit codes as the rest of the CLI: 0 done, 1 failure (no index yet, a backend down),
2 bad input (a user id not of the allowed form, ``erase`` without ``--yes``). An unknown
shopper is not an error: their profile is empty.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

__all__ = ["users_app"]

users_app = typer.Typer(
    name="users",
    help="Shopper profiles: show what the engine believes about a shopper, erase a shopper.",
    no_args_is_help=True,
)

UserArg = Annotated[str, typer.Argument(help="The shopper, e.g. U0042.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@users_app.command("show")
def show(
    user_id: UserArg,
    evidence: Annotated[
        int, typer.Option("--evidence", min=0, max=50, help="Events shown per belief.")
    ] = 3,
    as_json: JsonOpt = False,
) -> None:
    """The shopper's live profile in words, each belief with the events behind it."""
    from app.cli import _engine, _errors, out

    with _errors():
        engine = _engine()
        profiles = engine.profiles()
        profile = profiles.profile(user_id)
        beliefs = profiles.beliefs(user_id, evidence=evidence)
        summary = profiles.describe(user_id)
        edges = engine.graph.user_profile(user_id)
    if as_json:
        body = {
            "user_id": user_id,
            "empty": profile.empty,
            "events": profile.events,
            "summary": summary,
            "beliefs": [
                {
                    "text": b.text,
                    "total_events": b.total_events,
                    "events": [
                        {"seq": e.seq, "type": e.type, "product_id": e.product_id, "ts": e.ts}
                        for e in b.events
                    ],
                }
                for b in beliefs
            ],
            "recent": list(profile.recent),
            "graph_edges": edges,
        }
        print(json.dumps(body, indent=2))
        return
    out.print(f"shopper {user_id}: {profile.events} events", highlight=False)
    if profile.empty:
        out.print(summary[0], highlight=False)
        return
    for belief in beliefs:
        shown = ", ".join(f"{e.type} {e.product_id}" for e in belief.events)
        more = belief.total_events - len(belief.events)
        tail = f" (+{more} more)" if more > 0 else ""
        out.print(f"- {belief.text}: {shown}{tail}", highlight=False)
    out.print(f"recent: {', '.join(profile.recent[:10])}", highlight=False)
    out.print(f"graph: {len(edges)} AFFINITY edges", highlight=False)


@users_app.command("erase")
def erase(
    user_id: UserArg,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
) -> None:
    """Erase the shopper's events, profile, graph edges and row in the served
    recommendation models (needs --yes)."""
    from app.cli import _engine, _errors, _fail

    if not yes:
        _fail(f"erasing {user_id!r} cannot be undone: add --yes to confirm", 2)
    with _errors():
        report = _engine().erase_user(user_id)
    print(json.dumps(report))
