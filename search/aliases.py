"""The catalogue's aliases in a live :class:`~search.service.SearchService`.

Aliases live in the graph (``kg.store.GraphStore.aliases``, edited through
``catalogue.aliases``); search never reindexes for them. Each time the graph moves, the
index's sync (``ingest.sync.LiveSync``) hands the whole alias table to
:func:`apply_aliases`, which gives it to the three places that read query words:

- the entity linker: an alias span links its entity (below an exact name's confidence);
- the keyword query: an alias span adds the entity's name tokens (query-side synonyms),
  before the tokens reach tantivy or Elasticsearch, so both backends search the same
  terms and nothing indexed changes;
- the spelling corrector: alias words are known words, never "corrected" away.

Why query-side expansion and not an Elasticsearch synonym set: both keyword backends index
pre-analysed tokens (``search.analysis``), so a synonym filter inside Elasticsearch would
analyse differently from tantivy, and an updateable synonym set would still need its
search analyser reloaded per edit; expanding the token list is one code path, applies at
the next query, and keeps the two backends' scores equal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from kg.documents import renamed_ids, search_aliases
from kg.store import GraphStore
from search.graph_signals import GraphSignals
from search.spelling import SpellCorrector

__all__ = ["AliasTarget", "apply_aliases", "apply_names"]


class AliasTarget(Protocol):
    """What :func:`apply_aliases` needs of a search service."""

    @property
    def graph(self) -> GraphSignals | None: ...

    spelling: SpellCorrector


def apply_aliases(service: AliasTarget, aliases: Mapping[str, Sequence[str]]) -> int:
    """Make ``aliases`` (entity id -> folded aliases, as the graph store gives them) the
    service's alias table; return how many alias spans link (aliases of entities that
    some product uses). A service without graph signals only learns the words."""
    service.spelling.set_alias_words(a for texts in aliases.values() for a in texts)
    graph = service.graph
    if graph is None:
        return 0
    graph.set_aliases(aliases)
    return graph.linker.alias_count


def apply_names(
    service: AliasTarget, store: GraphStore, aliases: Mapping[str, Sequence[str]] | None = None
) -> int:
    """Give ``service`` what the graph's current names decide: its alias table
    (``aliases``, read from ``store`` unless given) and, when it has KG embeddings, which
    of their entities a rename gave a new search id (``kg.documents.renamed_ids``), so a
    renamed brand keeps its ``kge_*`` signals. Return how many alias spans link."""
    spans = apply_aliases(service, search_aliases(store) if aliases is None else aliases)
    graph = service.graph
    if graph is not None and graph.embeddings is not None:
        graph.set_renamed(renamed_ids(store, graph.embeddings.entity_ids))
    return spans
