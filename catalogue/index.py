"""An in-memory view of the catalogue's structure, kept current from the change log.

Validation needs, on every edit, facts that the ``GraphStore`` protocol can only answer
with a full scan: which attribute keys a product class uses, which brand has a name,
which category a path of names leads to, which products hang off an entity. The index
reads the whole graph once, then applies each change of the log since its revision
(create/update/delete/relate/unrelate carry everything it needs), so an edit costs a
look-up instead of a scan. A delete removes the deleted entity's relations too, as the
stores do without logging them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from kg.schema import (
    Change,
    EntityKind,
    JsonValue,
    Relation,
    RelationType,
    kind_of,
    slug,
)
from kg.store import GraphStore

__all__ = ["CatalogIndex"]

#: Past this many changes since the last refresh, reading the graph again is cheaper.
REBUILD_AFTER = 50_000


def _text(value: JsonValue) -> str:
    return value if isinstance(value, str) else ""


class CatalogIndex:
    """Adjacency, names and attribute keys of the catalogue at :attr:`revision`."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.revision = -1  # never read
        self.kinds: dict[str, EntityKind] = {}
        self.product_class: dict[str, str] = {}
        self.names: dict[str, str] = {}  # names of named entities (brands, categories)
        self.attribute: dict[str, tuple[str, str]] = {}  # attr id -> (key, value)
        self.out: dict[str, dict[RelationType, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.into: dict[str, dict[RelationType, set[str]]] = defaultdict(lambda: defaultdict(set))
        self._by_class: dict[str, set[str]] = defaultdict(set)
        self._lookups: dict[str, dict[object, str]] | None = None

    # -- keeping current --------------------------------------------------------------------

    def refresh(self, store: GraphStore) -> None:
        """Catch up with ``store``: apply the changes since :attr:`revision`, or read it all."""
        revision = store.revision
        if revision == self.revision:
            return
        if self.revision < 0 or revision < self.revision:
            self.rebuild(store)
            return
        changes = list(store.changes(since=self.revision))
        if len(changes) > REBUILD_AFTER:
            self.rebuild(store)
            return
        for change in changes:
            self.apply(change)

    def rebuild(self, store: GraphStore) -> None:
        revision = store.revision
        self._reset()
        for entity in store.entities():
            self._set_entity(entity.id, entity.properties)
        for rel in store.relations():
            self._link(rel)
        # Changes that landed while reading are replayed on the next refresh (idempotent).
        self.revision = revision

    def apply(self, change: Change) -> None:
        eid = change.entity_id
        if change.op in ("create", "update") and change.after is not None:
            self._set_entity(eid, change.after)
        elif change.op == "delete":
            self._drop_entity(eid)
        elif change.op == "relate" and change.after is not None:
            self._link(self._relation(eid, change.after))
        elif change.op == "unrelate" and change.before is not None:
            self._unlink(self._relation(eid, change.before))
        self.revision = max(self.revision, change.seq)

    @staticmethod
    def _relation(source: str, body: Mapping[str, JsonValue]) -> Relation:
        return Relation(source, RelationType(_text(body.get("type"))), _text(body.get("target")))

    def _set_entity(self, eid: str, props: Mapping[str, JsonValue]) -> None:
        kind = kind_of(eid)
        self.kinds[eid] = kind
        if kind is EntityKind.PRODUCT:
            old = self.product_class.get(eid)
            if old is not None:
                self._by_class[old].discard(eid)
            cls = _text(props.get("product_class"))
            self.product_class[eid] = cls
            self._by_class[cls].add(eid)
        elif kind is EntityKind.ATTRIBUTE_VALUE:
            self.attribute[eid] = (_text(props.get("key")), _text(props.get("value")))
            self._lookups = None
        else:
            self.names[eid] = _text(props.get("name"))
            self._lookups = None

    def _drop_entity(self, eid: str) -> None:
        kind = self.kinds.pop(eid, None)
        if kind is None:
            return
        for rtype, targets in list(self.out.pop(eid, {}).items()):
            for target in targets:
                self.into[target][rtype].discard(eid)
        for rtype, sources in list(self.into.pop(eid, {}).items()):
            for source in sources:
                self.out[source][rtype].discard(eid)
        cls = self.product_class.pop(eid, None)
        if cls is not None:
            self._by_class[cls].discard(eid)
        self.attribute.pop(eid, None)
        self.names.pop(eid, None)
        self._lookups = None

    def _link(self, rel: Relation) -> None:
        self.out[rel.source][rel.type].add(rel.target)
        self.into[rel.target][rel.type].add(rel.source)
        if rel.type is RelationType.SUBCATEGORY_OF:
            self._lookups = None

    def _unlink(self, rel: Relation) -> None:
        self.out[rel.source][rel.type].discard(rel.target)
        self.into[rel.target][rel.type].discard(rel.source)
        if rel.type is RelationType.SUBCATEGORY_OF:
            self._lookups = None

    # -- questions ------------------------------------------------------------------------

    def exists(self, eid: str) -> bool:
        return eid in self.kinds

    def targets(self, source: str, rtype: RelationType) -> set[str]:
        found = self.out.get(source)
        return set(found.get(rtype, ())) if found else set()

    def sources(self, target: str, rtype: RelationType) -> set[str]:
        found = self.into.get(target)
        return set(found.get(rtype, ())) if found else set()

    def one_target(self, source: str, rtype: RelationType) -> str | None:
        found = sorted(self.targets(source, rtype))
        return found[0] if found else None

    def relations_of(self, eid: str) -> list[Relation]:
        """Every relation touching ``eid``, both directions."""
        rels = [
            Relation(eid, rtype, target)
            for rtype, targets in self.out.get(eid, {}).items()
            for target in targets
        ]
        rels += [
            Relation(source, rtype, eid)
            for rtype, sources in self.into.get(eid, {}).items()
            for source in sources
        ]
        return sorted(rels)

    def products(self) -> list[str]:
        return sorted(self.product_class)

    def attributes_of(self, product: str) -> dict[str, str]:
        """The product's attribute values by key (the first by id if a key has two)."""
        out: dict[str, str] = {}
        for aid in sorted(self.targets(product, RelationType.HAS_ATTRIBUTE)):
            key = self.attribute.get(aid, ("", ""))[0]
            out.setdefault(key, aid)
        return out

    def allowed_keys(self, product_class: str) -> set[str]:
        """Attribute keys the products of ``product_class`` use today."""
        keys: set[str] = set()
        for pid in self._by_class.get(product_class, ()):
            for aid in self.targets(pid, RelationType.HAS_ATTRIBUTE):
                if aid in self.attribute:
                    keys.add(self.attribute[aid][0])
        return keys

    def has_class(self, product_class: str) -> bool:
        """Whether any product of the catalogue is of ``product_class``."""
        return bool(self._by_class.get(product_class))

    def classes(self) -> list[str]:
        return sorted(c for c, members in self._by_class.items() if members)

    def parent(self, category: str) -> str | None:
        return self.one_target(category, RelationType.SUBCATEGORY_OF)

    def parents(self) -> dict[str, str]:
        return {
            cid: parent
            for cid in self.kinds
            if self.kinds[cid] is EntityKind.CATEGORY and (parent := self.parent(cid)) is not None
        }

    def category_path(self, category: str) -> tuple[str, ...]:
        """The names from the top of ``category``'s tree down to it (any named entity:
        one outside a tree has its name alone)."""
        path: list[str] = []
        node: str | None = category
        seen: set[str] = set()
        while node is not None and node not in seen and len(path) < 32:
            seen.add(node)
            path.append(self.names.get(node, ""))
            node = self.parent(node)
        return tuple(reversed(path))

    def descendants(self, category: str) -> list[str]:
        """Categories below ``category`` (not itself), parents before children."""
        out: list[str] = []
        frontier = [category]
        seen = {category}
        while frontier:
            node = frontier.pop(0)
            for child in sorted(self.sources(node, RelationType.SUBCATEGORY_OF)):
                if child not in seen:
                    seen.add(child)
                    out.append(child)
                    frontier.append(child)
        return out

    def ids_of(self, kind: EntityKind) -> list[str]:
        return sorted(eid for eid, k in self.kinds.items() if k is kind)

    # -- look-ups by name -----------------------------------------------------------------

    def _tables(self) -> dict[str, dict[object, str]]:
        if self._lookups is None:
            named: dict[object, str] = {}
            values: dict[object, str] = {}
            for eid in sorted(self.kinds):
                kind = self.kinds[eid]
                if kind is EntityKind.ATTRIBUTE_VALUE:
                    k, v = self.attribute.get(eid, ("", ""))
                    values.setdefault((k.casefold(), slug(v)), eid)
                elif kind is not EntityKind.PRODUCT:
                    key = (kind, *(p.casefold() for p in self.category_path(eid)))
                    named.setdefault(key, eid)
            self._lookups = {"named": named, "value": values}
        return self._lookups

    def named(self, kind: EntityKind, path: Iterable[str]) -> str | None:
        """The entity of ``kind`` at ``path``, its name and its parents' (outermost first;
        an entity outside a tree: its name alone). Case-insensitive."""
        return self._tables()["named"].get((kind, *(p.strip().casefold() for p in path)))

    def brand_named(self, name: str) -> str | None:
        return self.named(EntityKind.BRAND, (name,))

    def category_at(self, path: Iterable[str]) -> str | None:
        return self.named(EntityKind.CATEGORY, path)

    def attribute_value(self, key: str, value: str) -> str | None:
        """The value of ``key`` spelled like ``value``: the same slug ("Multi-Color" and
        "multi color" are one value), as search's entity linking identifies them."""
        return self._tables()["value"].get((key.strip().casefold(), slug(value)))

    def values_of_key(self, key: str) -> list[str]:
        folded = key.strip().casefold()
        return sorted(a for a, (k, _) in self.attribute.items() if k.casefold() == folded)
