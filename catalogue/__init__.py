"""The catalogue application: how the catalog team edits the product graph.

Edit sessions over any :class:`~kg.store.GraphStore` (products, named entities such as
brands and categories, attribute values, relations), diffs and merges, the audit and
undo, and the one way a catalogue file gets in (:class:`~catalogue.imports.ImportOps`).
Everything is validated (:mod:`catalogue.validation`), versioned and audited.

It sits above ``ingest`` (whose file readers and ``ProductRecord`` it uses) and ``kg``;
nothing below ``app`` imports it. Start at :class:`catalogue.ops.CatalogOps`. This
module imports nothing, so that reading a declaration (:mod:`catalogue.kinds`) is cheap.
"""
