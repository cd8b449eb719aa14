"""Product documents: what the search side knows about a product, derived from the graph.

The graph is the source of truth: :func:`product_documents` rebuilds brand, category
path and attributes by following each product's relations.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kg.schema import (
    Entity,
    EntityKind,
    JsonValue,
    RelationType,
    attribute_id,
    brand_id,
    category_id,
    kind_of,
    product_id,
)
from kg.store import GraphStore

__all__ = [
    "FEW_PRODUCTS",
    "ProductDocument",
    "category_path",
    "product_documents",
    "renamed_ids",
    "search_aliases",
    "search_ids",
]


@dataclass(frozen=True, slots=True)
class ProductDocument:
    """Everything the search side knows about a product, derived from the graph."""

    product_id: str
    name: str
    product_class: str
    category_path: tuple[str, ...]
    brand: str | None
    attributes: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    price: float | None = None
    average_rating: float | None = None
    rating_count: int = 0
    #: Search id -> graph id for this product's brand, categories (every level of the
    #: path) and attribute values where the two differ: search derives ids from current
    #: names (:func:`search_ids`), and a rename keeps the graph's id. None when none of
    #: them was renamed. What is written back to the graph (a shopper's affinities) is
    #: named through it.
    graph_ids: Mapping[str, str] | None = None

    def graph_id(self, search_id: str) -> str:
        """The graph's id of one of this product's entities, given the id search knows it
        by (itself when it was not renamed)."""
        return search_id if self.graph_ids is None else self.graph_ids.get(search_id, search_id)

    @property
    def entity_id(self) -> str:
        return product_id(self.product_id)


def _str(value: JsonValue, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _float(value: JsonValue) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


#: Per product: its brand's graph id, its category's id, and its attribute values' graph
#: ids by key; then every brand's name and every value's (key, value) met on the way.
_Facts = tuple[
    dict[str, str],
    dict[str, str],
    dict[str, dict[str, str]],
    dict[str, str],
    dict[str, tuple[str, str]],
]


def _scanned_facts(
    store: GraphStore, products: Sequence[Entity], categories: Mapping[str, str]
) -> _Facts:
    """Brand, category and attribute values of each of ``products``, from one scan of
    every brand, attribute value and relation (``categories``: every category's name)."""
    wanted = {p.id for p in products}
    attrs: dict[str, tuple[str, str]] = {}
    names = dict(categories)
    for e in store.entities(EntityKind.BRAND):
        names[e.id] = _str(e.properties.get("name"))
    for e in store.entities(EntityKind.ATTRIBUTE_VALUE):
        attrs[e.id] = (_str(e.properties.get("key")), _str(e.properties.get("value")))
    brand: dict[str, str] = {}
    category: dict[str, str] = {}
    values: dict[str, dict[str, str]] = defaultdict(dict)
    for rel in store.relations():
        if rel.source not in wanted:
            continue
        if rel.type is RelationType.HAS_BRAND:
            brand[rel.source] = rel.target
        elif rel.type is RelationType.IN_CATEGORY:
            category[rel.source] = rel.target
        elif rel.type is RelationType.HAS_ATTRIBUTE and rel.target in attrs:
            values[rel.source][attrs[rel.target][0]] = rel.target
    brand_names = {b: names.get(b, "") for b in set(brand.values())}
    return brand, category, values, brand_names, attrs


def _own_facts(store: GraphStore, products: Sequence[Entity]) -> _Facts:
    """The same facts as :func:`_scanned_facts`, read through each product's own outgoing
    relations. Both reads list a product's relations by type, then target, so where two
    relations set one fact (two values of one key) the same one wins."""
    brand: dict[str, str] = {}
    category: dict[str, str] = {}
    values: dict[str, dict[str, str]] = defaultdict(dict)
    names: dict[str, str] = {}
    attrs: dict[str, tuple[str, str]] = {}
    for p in products:
        for rel, target in store.neighbours(p.id):
            if rel.type is RelationType.HAS_BRAND:
                brand[p.id] = rel.target
                named = target.kind in (EntityKind.BRAND, EntityKind.CATEGORY)
                names[rel.target] = _str(target.properties.get("name")) if named else ""
            elif rel.type is RelationType.IN_CATEGORY:
                category[p.id] = rel.target
            elif (
                rel.type is RelationType.HAS_ATTRIBUTE and target.kind is EntityKind.ATTRIBUTE_VALUE
            ):
                key, value = target.properties.get("key"), target.properties.get("value")
                attrs[rel.target] = (_str(key), _str(value))
                values[p.id][_str(key)] = rel.target
    return brand, category, values, names, attrs


def _walk_up(store: GraphStore, cid: str, seen: set[str]) -> list[tuple[Entity, str | None]]:
    """``cid``'s category and its ancestors, child first, each with its parent's id
    (SUBCATEGORY_OF; the catalogue keeps one per category, and where a store holds two the
    greatest id wins, as in :func:`product_documents`' scan). The walk stops at the root,
    at a missing category, or at one in ``seen``; ``seen`` gets each one visited, so a
    cycle ends it and walks sharing ``seen`` read a category once."""
    out: list[tuple[Entity, str | None]] = []
    current: str | None = cid
    while current is not None and current not in seen:
        seen.add(current)
        entity = store.get(current)
        if entity is None:
            break
        ups = store.neighbours(current, relation=RelationType.SUBCATEGORY_OF, direction="out")
        current = max((rel.target for rel, _ in ups), default=None)
        out.append((entity, current))
    return out


def _parents_up(store: GraphStore, categories: Iterable[str]) -> dict[str, str]:
    """The parent of each of ``categories`` and of their ancestors, read up each path
    (SUBCATEGORY_OF's (source, type) lookup): reading every SUBCATEGORY_OF relation went
    through the whole relation table, 16 ms of a 50k catalogue's single-edit sync."""
    seen: set[str] = set()
    return {
        entity.id: parent
        for start in categories
        for entity, parent in _walk_up(store, start, seen)
        if parent is not None
    }


#: Up to this many products, :func:`product_documents` reads each one's own relations;
#: beyond, one scan of every relation costs less. An edit's sync rebuilds a few documents,
#: and the scan made each single edit cost ~90 ms at 5k products (it grows with the graph).
FEW_PRODUCTS = 64


def product_documents(store: GraphStore, ids: Sequence[str] | None = None) -> list[ProductDocument]:
    """Build documents for all products (or the given product ids) from the graph."""
    if ids is None:
        products = list(store.entities(EntityKind.PRODUCT))
    else:
        found = store.get_many([product_id(i) for i in ids])
        products = [found[product_id(i)] for i in ids if product_id(i) in found]
    names: dict[str, str] = {}
    for e in store.entities(EntityKind.CATEGORY):
        names[e.id] = _str(e.properties.get("name"))
    if ids is not None and len(products) <= FEW_PRODUCTS:
        facts = _own_facts(store, products)
        parents = _parents_up(store, facts[1].values())
    else:
        facts = _scanned_facts(store, products, names)
        parents = {rel.source: rel.target for rel in store.relations(RelationType.SUBCATEGORY_OF)}
    brand, category, values, brand_names, value_texts = facts
    # Each entity's search id, derived once from its current name.
    searched: dict[str, str] = {
        **{b: brand_id(name) for b, name in brand_names.items() if _kind(b) is EntityKind.BRAND},
        **{v: attribute_id(key, value) for v, (key, value) in value_texts.items()},
    }
    chains: dict[str | None, tuple[str, ...]] = {None: ()}

    def chain_of(cid: str | None) -> tuple[str, ...]:
        """The category's id and its ancestors', root first."""
        if cid not in chains:
            up, chain = cid, list[str]()
            while up is not None and len(chain) < 16:
                chain.append(up)
                up = parents.get(up)
            chains[cid] = tuple(reversed(chain))
        return chains[cid]

    paths: dict[tuple[str, ...], tuple[str, ...]] = {}

    def path_of(chain: tuple[str, ...]) -> tuple[str, ...]:
        """The chain's names; records each level's search id on first sight."""
        if chain not in paths:
            path = paths[chain] = tuple(names.get(c, "") for c in chain)
            for depth, c in enumerate(chain, 1):
                searched.setdefault(c, category_id(path[:depth]))
        return paths[chain]

    def renamed(gids: Iterable[str | None]) -> dict[str, str] | None:
        out = {searched[g]: g for g in gids if g is not None and searched.get(g, g) != g}
        return out or None

    docs = []
    for p in products:
        props = p.properties
        rc = props.get("rating_count")
        bid = brand.get(p.id)
        chain = chain_of(category.get(p.id))
        path = path_of(chain)  # before renamed(): it records the chain's search ids
        docs.append(
            ProductDocument(
                product_id=_str(props.get("product_id")),
                name=_str(props.get("name")),
                product_class=_str(props.get("product_class")),
                category_path=path,
                brand=None if bid is None else brand_names[bid],
                attributes=dict(sorted((k, value_texts[v][1]) for k, v in values[p.id].items())),
                description=_str(props.get("description")),
                price=_float(props.get("price")),
                average_rating=_float(props.get("average_rating")),
                rating_count=rc if isinstance(rc, int) else 0,
                graph_ids=renamed((bid, *chain, *values[p.id].values())),
            )
        )
    return docs


def category_path(store: GraphStore, cid: str) -> tuple[str, ...]:
    """The category's path of names, root first (following SUBCATEGORY_OF up)."""
    up = _walk_up(store, cid, set())
    return tuple(reversed([str(entity.properties.get("name", "")) for entity, _ in up]))


def search_ids(store: GraphStore, entity_ids: Iterable[str]) -> dict[str, str]:
    """Graph id -> the id search knows the entity by. Documents carry names, and the
    linker and graph signals derive ids from them (``brand_id(name)``, ``category_id(path)``,
    ``attribute_id(key, value)``); a rename keeps the graph id, so after one the two
    differ. An unknown entity, or one of another kind, keeps its id."""
    wanted = list(dict.fromkeys(entity_ids))
    found = store.get_many(wanted)
    out: dict[str, str] = {}
    for eid in wanted:
        entity, kind = found.get(eid), kind_of(eid)
        if entity is None:
            out[eid] = eid
        elif kind is EntityKind.BRAND:
            out[eid] = brand_id(_str(entity.properties.get("name")))
        elif kind is EntityKind.CATEGORY:
            out[eid] = category_id(category_path(store, eid))
        elif kind is EntityKind.ATTRIBUTE_VALUE:
            props = entity.properties
            out[eid] = attribute_id(_str(props.get("key")), _str(props.get("value")))
        else:
            out[eid] = eid
    return out


def search_aliases(store: GraphStore) -> dict[str, tuple[str, ...]]:
    """The graph's aliases (:meth:`~kg.store.GraphStore.aliases`) keyed by
    :func:`search_ids`, as search links entities: a renamed brand's aliases still reach
    its products. Two entities that one id stands for have their aliases joined."""
    aliases = store.aliases()
    ids = search_ids(store, aliases)
    joined: dict[str, list[str]] = {}
    for eid, texts in aliases.items():
        into = joined.setdefault(ids[eid], [])
        into.extend(t for t in texts if t not in into)
    return {eid: tuple(texts) for eid, texts in joined.items()}


#: The kinds whose search id derives from a name, so a rename can move it.
_NAMED = (EntityKind.BRAND, EntityKind.CATEGORY, EntityKind.ATTRIBUTE_VALUE)


def renamed_ids(store: GraphStore, entity_ids: Iterable[str]) -> dict[str, str]:
    """Search id -> graph id, for those of ``entity_ids`` (brands, categories, values;
    others are skipped) that a rename gave another search id than their graph id. What is
    keyed by graph id, such as trained KG embeddings, is found through this map from the
    ids the linker gives. A search id that another entity of ``entity_ids`` still holds as
    its own keeps pointing at that one."""
    named = [e for e in entity_ids if _kind(e) in _NAMED]
    ids = search_ids(store, named)
    return {sid: gid for gid, sid in sorted(ids.items()) if sid != gid and ids.get(sid) != sid}


def _kind(entity_id: str) -> EntityKind | None:
    try:
        return kind_of(entity_id)
    except ValueError:
        return None
