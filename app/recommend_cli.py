"""``kgsearch recommend ...``: similar items and "for you" from the command line.

Exit codes as the rest of the CLI: 0 done, 1 failure (no index yet), 2 bad input (an
unknown product, ``--k`` outside 1-100, an unknown filter). An unknown shopper is not an
error: they get cold-start recommendations.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from recommend.service import Recommendations

__all__ = ["recommend_app"]

recommend_app = typer.Typer(
    name="recommend",
    help="Recommendations: similar items for a product, 'for you' for a shopper.",
    no_args_is_help=True,
)

K = Annotated[int, typer.Option("--k", "-k", help="Number of items (1-100).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
BrandCap = Annotated[int | None, typer.Option("--brand-cap", help="At most N items per brand.")]
MMR = Annotated[float | None, typer.Option("--mmr", help="MMR trade-off λ in [0, 1].")]
Filter = Annotated[
    list[str] | None, typer.Option("--filter", help="field:value, repeatable (brand:Oakhaven).")
]


def _run(call: Any, as_json: bool) -> None:
    from app.cli import _engine, _errors, out
    from app.schemas import RecommendationsOut

    with _errors():
        result: Recommendations = call(_engine())
    body = RecommendationsOut.of(result).model_dump()
    if as_json:
        print(json.dumps(body, indent=2))
        return
    from rich.table import Table

    title = f"{result.kind} {result.subject}: {len(result.items)} items, {result.took_ms:.1f} ms"
    table = Table(title=title)
    for column in ("#", "product", "name", "brand", "score", "sources", "reason"):
        table.add_column(column)
    for item in result.items:
        table.add_row(
            str(item.rank),
            item.product_id,
            item.name,
            item.brand or "",
            f"{item.score:.3f}",
            ", ".join(item.sources),
            item.reason,
        )
    out.print(table)
    if result.cold_start:
        out.print(f"cold start: {result.cold_start_reason}", highlight=False)


def _filters(values: list[str] | None) -> Any:
    from app.api import BadParameter, parse_filters

    try:
        return parse_filters(values or []) or None
    except BadParameter as exc:
        raise ValueError(str(exc)) from None


def _diversity(brand_cap: int | None, mmr: float | None) -> Any:
    from recommend.diversity import Diversity

    return Diversity(brand_cap=brand_cap, mmr=mmr)


@recommend_app.command("similar")
def similar(
    product_id: Annotated[str, typer.Argument(help="The product, e.g. P000123.")],
    k: K = 10,
    filter: Filter = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Product ids to leave out.")
    ] = None,
    brand_cap: BrandCap = None,
    mmr: MMR = None,
    as_json: JsonOpt = False,
) -> None:
    """Products like PRODUCT_ID, each with its sources, contributions and a reason."""
    _run(
        lambda engine: engine.recommendations().similar(
            product_id,
            k=k,
            filters=_filters(filter),
            exclude=exclude or (),
            diversity=_diversity(brand_cap, mmr),
        ),
        as_json,
    )


@recommend_app.command("user")
def user(
    user_id: Annotated[str, typer.Argument(help="The shopper, e.g. U0042.")],
    k: K = 10,
    context: Annotated[
        str | None, typer.Option("--context", help="The product on the page.")
    ] = None,
    include_purchased: Annotated[
        bool, typer.Option("--include-purchased", help="Also show what they bought.")
    ] = False,
    filter: Filter = None,
    brand_cap: BrandCap = None,
    mmr: MMR = None,
    as_json: JsonOpt = False,
) -> None:
    """Products for shopper USER_ID (an unknown shopper gets cold-start picks)."""
    _run(
        lambda engine: engine.recommendations().for_user(
            user_id,
            k=k,
            context=context,
            include_purchased=include_purchased,
            filters=_filters(filter),
            diversity=_diversity(brand_cap, mmr),
        ),
        as_json,
    )


@recommend_app.command("session")
def session(
    session_id: Annotated[str, typer.Argument(help="The session, e.g. S000123.")],
    k: K = 10,
    filter: Filter = None,
    brand_cap: BrandCap = None,
    mmr: MMR = None,
    as_json: JsonOpt = False,
) -> None:
    """Products for an anonymous shopper from the events of SESSION_ID (a session without
    events gets cold-start picks)."""
    _run(
        lambda engine: engine.recommend_session(
            session_id,
            k=k,
            filters=_filters(filter),
            diversity=_diversity(brand_cap, mmr),
        ),
        as_json,
    )
