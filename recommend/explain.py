"""One reason in words per recommended item, built from the graph or from behaviour.

The sources that contributed most are asked, in that order, why they relate the item to
the anchors (the page's product, or the shopper's items); the first two answers from
different sources are joined: ``bought together by 37 shoppers · same brand Oakhaven``.
An item no source can word gets the name of its strongest source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from recommend.sources.base import CandidateSource

__all__ = ["FALLBACK", "reason"]

#: Words for a source that cannot say more.
FALLBACK: Mapping[str, str] = {
    "collaborative": "shoppers with similar taste chose it",
    "cooccurrence": "often seen with your items",
    "content": "similar name and description",
    "graph": "close in the product graph",
    "kge": "close in the knowledge-graph embedding",
    "popularity": "popular right now",
}


def reason(
    contributions: Mapping[str, float],
    sources: Mapping[str, CandidateSource],
    anchors: Sequence[int],
    item: int,
    *,
    parts: int = 2,
) -> str:
    ordered = sorted(contributions, key=lambda s: (-contributions[s], s))
    if "graph" not in ordered:
        ordered.append("graph")  # shared brand / attributes are facts, whoever proposed it
    words: list[str] = []
    for name in ordered:
        source = sources.get(name)
        if source is None:
            continue
        text = source.describe(anchors, item)
        if text and text not in words:
            words.append(text)
        if len(words) == parts:
            break
    if not words and contributions:
        strongest = ordered[0]
        words.append(FALLBACK.get(strongest, f"proposed by {strongest}"))
    return " · ".join(words)
