from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from contracts.graph_store import GraphStoreContract

from kg.sqlite_store import SQLiteGraphStore


class TestSQLiteGraphStore(GraphStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SQLiteGraphStore]:
        store = SQLiteGraphStore(path=tmp_path / "graph.sqlite")
        yield store
        store.close()

    def test_survives_reopen(self, tmp_path: Path) -> None:
        from contracts.graph_store import P1, seed_batch

        first = SQLiteGraphStore(path=tmp_path / "g.sqlite")
        first.write(seed_batch(), actor="t")
        revision = first.revision
        first.close()
        again = SQLiteGraphStore(path=tmp_path / "g.sqlite")
        assert again.revision == revision
        assert again.get(P1) is not None
        again.close()
