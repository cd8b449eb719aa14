"""Judged queries from WANDS-format ``query.csv`` + ``label.csv``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from ingest.formats import CatalogueError, read_labels, read_queries
from ingest.records import LabelRecord, QueryRecord
from ranker.evaluation import JudgedQuery

__all__ = ["judged_queries", "load_judgments", "select_split"]


def judged_queries(
    queries: Sequence[QueryRecord], labels: Sequence[LabelRecord]
) -> list[JudgedQuery]:
    grades: dict[str, dict[str, int]] = defaultdict(dict)
    for label in labels:
        grades[label.query_id][label.product_id] = int(label.grade)
    return [
        JudgedQuery(q.query_id, q.query, dict(grades.get(q.query_id, {})), q.kind, q.split)
        for q in queries
    ]


def load_judgments(queries_path: Path, labels_path: Path) -> list[JudgedQuery]:
    """Read both files; any invalid row refuses the whole load, naming every bad row."""
    queries = read_queries(queries_path)
    if queries.errors:
        raise CatalogueError(str(queries_path), queries.errors)
    labels = read_labels(labels_path)
    if labels.errors:
        raise CatalogueError(str(labels_path), labels.errors)
    return judged_queries(queries.records, labels.records)


def select_split(judged: Sequence[JudgedQuery], split: str) -> list[JudgedQuery]:
    """Queries of one split; ``"all"`` keeps every query, including those without a split."""
    if split == "all":
        return [q for q in judged if q.grades]
    chosen = [q for q in judged if q.split == split and q.grades]
    if not chosen:
        present = sorted({q.split or "(none)" for q in judged})
        raise ValueError(
            f"no judged queries in split {split!r}; splits present: {present}. "
            "Use --split all for judgments without a split column."
        )
    return chosen
