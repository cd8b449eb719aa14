"""Catalog edits reach the live index without a reindex.

:class:`LiveSync` replays the graph's change log since a version was built (or last
synced) into that version's search service in place: changed and new products are
re-analysed, re-encoded and re-linked, deleted ones removed, and products new to the KG
embeddings get a vector from their neighbours at once (marked stale until the next
`kgsearch train-kge`). The revision reached is written into the version directory
(:data:`~ingest.versions.APPLIED`), so a restarted process knows what its keyword index
already holds; replays are idempotent.
"""

from __future__ import annotations

import json
import logging
import threading
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path

from ingest.versions import APPLIED, Manifest
from kg.documents import ProductDocument, product_documents
from kg.schema import ALIASES, Change, JsonValue
from kg.store import GraphStore
from search.aliases import apply_names
from search.service import SearchService

__all__ = ["LiveSync", "affected_products", "embed_new_products"]

log = logging.getLogger(__name__)

_PRODUCT = "product:"


class LiveSync:
    """Keeps index versions in step with ``graph``; safe to share between threads."""

    def __init__(self, *, graph: GraphStore) -> None:
        self._graph = graph
        self._lock = threading.Lock()
        self._applied: dict[str, int] = {}  # index version -> graph revision applied to it
        #: service -> the graph revision whose aliases it holds (search.aliases)
        self._aliases_at: weakref.WeakKeyDictionary[SearchService, int] = (
            weakref.WeakKeyDictionary()
        )

    def catch_up(self, service: SearchService, manifest: Manifest, where: Path) -> int:
        """Apply every change since ``manifest``'s version last caught up to ``service``
        (whose files live in ``where``); return how many products changed."""
        with self._lock:
            self._sync_aliases(service)
            # A freshly opened version replays every change since its build: its documents
            # and vectors on disk are the build's; the keyword index may hold some edits
            # already, and upserts are idempotent.
            applied = self._applied.get(manifest.version, manifest.graph_revision)
            revision = self._graph.revision
            if revision <= applied:
                self._applied[manifest.version] = applied
                return 0
            ids = sorted(affected_products(self._graph, service, since=applied))
            docs = product_documents(self._graph, ids)
            found = {d.product_id for d in docs}
            deleted = [pid for pid in ids if pid not in found and pid in service.documents]
            service.apply(docs, deleted)
            embed_new_products(self._graph, service, docs)
            tmp = where / f"{APPLIED}.tmp"
            tmp.write_text(json.dumps({"revision": revision}))
            tmp.replace(where / APPLIED)
            self._applied[manifest.version] = revision
            log.info("applied graph revisions %d..%d: %d products", applied, revision, len(ids))
            return len(docs) + len(deleted)

    def _sync_aliases(self, service: SearchService) -> None:
        """Give ``service`` the graph's aliases (and renames, :func:`apply_names`) when
        they may have changed since it got them (one read of the alias table; an alias
        edit re-encodes no product). After a few edits of products only (a price, a name)
        the few changes are read instead: giving a 50k catalogue's service its aliases
        again cost an edit's sync 35 ms."""
        revision = self._graph.revision
        at = self._aliases_at.get(service)
        if at == revision:
            return
        if (
            at is not None
            and revision - at <= _FEW_CHANGES
            and not any(_touches_aliases(c) for c in self._graph.changes(since=at))
        ):
            self._aliases_at[service] = revision
            return
        spans = apply_names(service, self._graph)
        self._aliases_at[service] = revision
        log.debug("aliases of graph revision %d applied: %d spans link", revision, spans)


def _public(props: Mapping[str, JsonValue] | None) -> dict[str, JsonValue]:
    """What a product document can be built from: no bookkeeping, no aliases."""
    return {k: v for k, v in (props or {}).items() if k != ALIASES and not k.startswith("_")}


#: Up to this many changes since a service last got the aliases, they are read to see
#: whether any touched an alias; beyond (a bulk import), the aliases are read again.
_FEW_CHANGES = 1_000


def _touches_aliases(change: Change) -> bool:
    """Whether ``change`` may move what the aliases do: any change of a brand, category or
    attribute value (its aliases, or the name its aliases expand to). A product's own
    edits cannot; a product that brings a new entity is the linker's to handle
    (``search.linking.EntityLinker.add_documents``)."""
    return not change.entity_id.startswith(_PRODUCT)


def _aliases_only(change: Change) -> bool:
    """An update of a brand, category or value that changed only its aliases: no product
    document changes (aliases reach search through :func:`search.aliases.apply_aliases`)."""
    return change.op == "update" and _public(change.before) == _public(change.after)


def affected_products(graph: GraphStore, service: SearchService, *, since: int) -> set[str]:
    """Product ids whose documents may differ after the graph's changes since ``since``:
    changed products, and every product of a changed brand, category or attribute value."""
    ids: set[str] = set()
    for change in graph.changes(since=since):
        if change.entity_id.startswith(_PRODUCT):
            ids.add(change.entity_id[len(_PRODUCT) :])
        elif _aliases_only(change):
            continue
        elif service.graph is not None:
            ids.update(service.graph.products_of(change.entity_id))
            if change.op != "delete" and graph.get(change.entity_id) is not None:
                for _, entity in graph.neighbours(change.entity_id, direction="in"):
                    if entity.id.startswith(_PRODUCT):
                        ids.add(entity.id[len(_PRODUCT) :])
    return ids


def embed_new_products(
    graph: GraphStore, service: SearchService, docs: Sequence[ProductDocument]
) -> None:
    """Give products added since the last KGE training a vector at once (from their
    neighbours through the trained relations, then a few local steps); the artefact marks
    them stale. Re-linked products keep their vector until the next training."""
    from kg.kge import KGEArtefactError, KGEmbeddings

    signals = service.graph
    if signals is None or not isinstance(signals.embeddings, KGEmbeddings):
        return
    embeddings = signals.embeddings
    for doc in docs:
        if embeddings.has(doc.entity_id):
            continue
        neighbours = [
            (rel.type.value, entity.id)
            for rel, entity in graph.neighbours(doc.entity_id)
            if embeddings.has(entity.id)
        ]
        try:
            embeddings = embeddings.with_entity(doc.entity_id, neighbours)
        except KGEArtefactError as exc:
            log.warning("no incremental embedding for %s: %s", doc.product_id, exc)
    signals.embeddings = embeddings
