"""Recommendations from the knowledge graph and implicit feedback.

- :mod:`recommend.base`: the :class:`~recommend.base.Recommender` protocol every model
  implements, and the data it learns from (:class:`~recommend.base.Interactions`, a sparse
  user x item matrix; :class:`~recommend.base.ItemGraph`, the triples around the items).
- :mod:`recommend.models`: the models by name (``popularity``, ``itemknn``, ``als``,
  ``bpr``, ``kgneighbour``, ``kgdegree``, ``kgpopularity``, ``kg``, ``fused``) through
  :func:`recommend.models.make_recommender`.
- :mod:`recommend.datasets`: readers for public benchmark data (Last.FM with its KG).
- :mod:`recommend.evaluation`: the offline protocols (top-K, KGCN's CTR protocol, item
  cold start) and :func:`recommend.evaluation.evaluate_recs`.

Nothing heavy is imported here: NumPy, SciPy, ``implicit``, torch and PyKEEN load with the
modules that use them, so the CLI starts instantly.
"""
