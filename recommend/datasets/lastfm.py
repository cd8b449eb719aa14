"""Last.FM (HetRec 2011) with the Satori knowledge-graph subgraph, as released for KGCN.

The folder holds three tab-separated files (see its README): ``user_artists.dat``
(``userID artistID weight``, a header line; weight = listen count),
``item_index2entity_id.txt`` (``artistID entity_index`` for the artists in the graph) and
``kg.txt`` (``head relation tail`` over entity indices). As in KGCN, only interactions on
artists that are in the graph are kept.

Ids: users and items keep the data set's own ids (``"2"``, ``"51"``); entities are
``"e<index>"``, so an item id is never mistaken for an entity id.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recommend.base import Interactions, ItemGraph

__all__ = ["FILES", "LastFMKG", "find_lastfm_kg", "load_lastfm_kg", "shared_lastfm_dirs"]

FILES = ("user_artists.dat", "item_index2entity_id.txt", "kg.txt")


@dataclass(frozen=True)
class LastFMKG:
    """The data set read: every pair, the matrix over all graph artists, the graph."""

    interactions: Interactions
    graph: ItemGraph
    #: ``(user, item, listen count)`` for every kept pair, in file order
    pairs: tuple[tuple[str, str, float], ...]
    source: Path

    def summary(self) -> dict[str, int]:
        relations = {r for _, r, _ in self.graph.triples}
        entities = {e for h, _, t in self.graph.triples for e in (h, t)}
        return {
            "users": len(self.interactions.users),
            "items": len(self.interactions.items),
            "pairs": len(self.pairs),
            "triples": len(self.graph.triples),
            "relations": len(relations),
            "entities": len(entities),
        }


def shared_lastfm_dirs(repo_root: Path) -> list[Path]:
    """Where the shared copy usually is: ``shared/`` beside the repository, then the
    workplace's ``/work/shared`` (the caller puts an explicit path first)."""
    return [
        repo_root.parent / "shared" / "data" / "lastfm-kg",
        Path("/work/shared/data/lastfm-kg"),
    ]


def find_lastfm_kg(candidates: Sequence[Path | str]) -> Path | None:
    """The first candidate folder holding all of :data:`FILES`; ``None`` if none does."""
    for candidate in candidates:
        if candidate and all((Path(candidate) / name).is_file() for name in FILES):
            return Path(candidate)
    return None


def load_lastfm_kg(directory: Path) -> LastFMKG:
    """Read the folder; ``FileNotFoundError`` naming the missing file, ``ValueError`` with
    the line for a malformed one."""
    from scipy.sparse import csr_matrix

    directory = Path(directory)
    for name in FILES:
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory / name} is missing (Last.FM KG needs {FILES})")
    item_entities: dict[str, str] = {}
    for line_no, row in _rows(directory / "item_index2entity_id.txt"):
        _expect(row, 2, directory / "item_index2entity_id.txt", line_no)
        item_entities[row[0]] = f"e{row[1]}"
    triples: list[tuple[str, str, str]] = []
    for line_no, row in _rows(directory / "kg.txt"):
        _expect(row, 3, directory / "kg.txt", line_no)
        triples.append((f"e{row[0]}", row[1], f"e{row[2]}"))
    pairs: list[tuple[str, str, float]] = []
    for line_no, row in _rows(directory / "user_artists.dat", header=True):
        _expect(row, 3, directory / "user_artists.dat", line_no)
        if row[1] in item_entities:
            try:
                pairs.append((row[0], row[1], float(row[2])))
            except ValueError as exc:
                raise ValueError(f"user_artists.dat line {line_no}: bad weight {row[2]!r}") from exc
    users = tuple(sorted({u for u, _, _ in pairs}, key=_numeric))
    items = tuple(sorted(item_entities, key=_numeric))
    user_index = {u: i for i, u in enumerate(users)}
    item_index = {p: i for i, p in enumerate(items)}
    rows = np.array([user_index[u] for u, _, _ in pairs], dtype=np.int64)
    cols = np.array([item_index[p] for _, p, _ in pairs], dtype=np.int64)
    values = np.array([w for _, _, w in pairs], dtype=np.float64)
    matrix = csr_matrix((values, (rows, cols)), shape=(len(users), len(items)))
    matrix.sum_duplicates()
    return LastFMKG(
        interactions=Interactions(users=users, items=items, matrix=matrix),
        graph=ItemGraph(triples=tuple(triples), item_entities=item_entities),
        pairs=tuple(pairs),
        source=directory,
    )


def _rows(path: Path, *, header: bool = False) -> list[tuple[int, list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t")
        out = [(n, row) for n, row in enumerate(reader, start=1) if row]
    return out[1:] if header else out


def _expect(row: list[str], fields: int, path: Path, line_no: int) -> None:
    if len(row) != fields or not all(row):
        raise ValueError(f"{path.name} line {line_no}: expected {fields} fields, got {row!r}")


def _numeric(identifier: str) -> tuple[int, str]:
    return (int(identifier), "") if identifier.isdigit() else (1 << 62, identifier)
