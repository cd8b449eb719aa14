"""``kgsearch explain QUERY PRODUCT_ID [--compare B]``: the ``/explain`` answers in a
terminal, for a merchandiser or a developer asking why a product ranks where it does.

Exit codes as the rest of the CLI: 0 done, 1 failure (no index yet, a backend down), 2 bad
input (a query search refuses, an unknown product, filter or ranker).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

__all__ = ["explain_command"]


def explain_command(
    query: Annotated[str, typer.Argument(help="The query, as a shopper would type it.")],
    product_id: Annotated[str, typer.Argument(help="The product to explain, e.g. P000163.")],
    compare_with: Annotated[
        str | None,
        typer.Option("--compare", help="A second product: why is one above the other?"),
    ] = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=1000, help="Hits on the page.")] = 10,
    ranker: Annotated[str | None, typer.Option(help="As for `kgsearch search`.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Why a product is where it is for a query (or why it is not on the page)."""
    from app.cli import _engine, _errors, out
    from kg.schema import product_id as product_entity
    from kg.store import UnknownEntity
    from search.explain import compare, comparison_json, explain, explanation_json

    with _errors():
        engine = _engine()
        engine.sync()
        service, _ = engine.service()
        for pid in (product_id, compare_with):
            if pid is not None and pid not in service.documents:
                raise UnknownEntity(product_entity(pid), "not in the live index")
        chosen = engine.make_ranker(ranker) if ranker else None
        if compare_with is not None:
            c = compare(
                service, query, product_id, compare_with, k=k, ranker=chosen, store=engine.graph
            )
            body = comparison_json(c)
        else:
            x = explain(service, query, product_id, k=k, ranker=chosen, store=engine.graph)
            body = explanation_json(x)
    if as_json:
        print(json.dumps(body, indent=2))
    elif compare_with is not None:
        out.print(_comparison_text(body), highlight=False)
    else:
        out.print(_explanation_text(body), highlight=False)


def signed(amount: float) -> str:
    """As the explanations write amounts: ``+0.21``, ``−0.08``."""
    from search.explain import signed as worded

    return worded(amount)


def _explanation_text(x: dict[str, Any]) -> str:
    lines = [f"{x['product_id']} {x['name']!r} for {x['query']!r} ({x['ranker']}): {x['verdict']}"]
    kw, dn, gr = x["keyword"], x["dense"], x["graph"]
    lines.append(
        f"  keyword: {'recalled' if kw['recalled'] else 'not recalled'}, rank {kw['rank']}, "
        f"BM25 {kw['score']:.2f}"
        + "".join(f"; {f} matches {', '.join(t)}" for f, t in kw["terms"].items())
    )
    lines.append(
        f"  dense:   {'recalled' if dn['recalled'] else 'not recalled'}, rank {dn['rank']}, "
        f"cosine {dn['cosine']:.3f}"
    )
    through = ", ".join(gr["through"]) or "no linked entity"
    lines.append(f"  graph:   {'expanded' if gr['recalled'] else 'not expanded'}; has {through}")
    if x["filters"]:
        f = x["filters"]
        lines.append(f"  filters: {f['applied']}: {'passed' if f['passed'] else 'failed'}")
    for line in x["lines"]:
        lines.append(f"    {line['says']}")
    if x["lines"]:
        lines.append(f"    (baseline {signed(x['baseline'])}, small effects {signed(x['folded'])})")
    for d in x["gap"]:
        lines.append(
            f"  behind the last shown hit on {d['topic']}: {d['this']} ({signed(d['this_amount'])})"
            f" vs {d['other']} ({signed(d['other_amount'])})"
        )
    for p in x["paths"]:
        lines.append(f"  path: {p['text']}")
    if x["tie"]:
        lines.append(f"  tie: {x['tie']}")
    lines.extend(f"  note: {n}" for n in x["notes"])
    return "\n".join(lines)


def _comparison_text(c: dict[str, Any]) -> str:
    a, b = c["a"]["product_id"], c["b"]["product_id"]
    lines = [f"{c['query']!r} ({c['ranker']}): {c['verdict']}"]
    for d in c["differences"]:
        lines.append(
            f"  {signed(d['gap'])}  {a}: {d['this']} ({signed(d['this_amount'])})  |  "
            f"{b}: {d['other']} ({signed(d['other_amount'])})"
        )
    return "\n".join(lines)
