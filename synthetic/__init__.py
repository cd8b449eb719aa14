"""Synthetic data for demos, tests and benchmarks: nothing here is used to serve search.

- :mod:`synthetic.generator` — the seeded demo catalogue in WANDS format (products, judged
  queries, graded labels); products come from :mod:`synthetic.productgen`, queries and
  labels from :mod:`synthetic.querygen`, typing mistakes from :mod:`synthetic.typos`.
- :mod:`synthetic.vocab` — the vocabulary those draw from, read from the YAML files in
  ``synthetic/data/`` (``vocab.yaml``, ``classes.yaml``) and validated on first use.
- :mod:`synthetic.behaviour` — the seeded shopper simulator (position bias, brand and
  price preferences) that writes :mod:`ingest.events` logs.
- ``synthetic/data/tiny/`` — the committed tiny catalogue (``product.csv``, ``query.csv``,
  ``label.csv``): exactly what ``kgsearch generate --size tiny`` writes, used by tests
  and docs.

This package may import ``ingest``, ``ranker`` and ``kg``; nothing below ``app`` imports it.
"""
