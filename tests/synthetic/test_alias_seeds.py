"""The demo's starting aliases (synthetic.aliases, app.demo.seed_aliases): a stable,
held-out third, and only words that say something new."""

from __future__ import annotations

from pathlib import Path

from conftest import TINY

from app.demo import seed_aliases
from app.engine import Engine
from app.settings import Settings
from search.analysis import Analyzer
from synthetic.aliases import HELD_OUT_SHARE, alias_seeds


def test_seeds_are_stable_new_words_with_a_held_out_third() -> None:
    seeds = alias_seeds()
    assert seeds == alias_seeds()  # deterministic: no random state
    held = sum(s.held_out for s in seeds)
    assert abs(held / len(seeds) - HELD_OUT_SHARE) < 0.08
    by_alias = {(s.names, s.alias): s for s in seeds}
    sofas = ("Furniture", "Living Room Furniture", "Sofas")
    assert (sofas, "living room couch") in by_alias
    analyzer = Analyzer()
    for seed in seeds:
        # Never the entity's own name, nor a word the analyser already maps onto it.
        own = seed.names[-1:] if seed.kind == "category" else seed.names  # a path, else forms
        assert seed.alias not in {n.lower() for n in own}
        assert analyzer.tokens(seed.alias) not in [analyzer.tokens(n) for n in own]
    assert not any(s.alias == "grey" for s in seeds)  # the analyser maps grey -> gray


def test_seed_aliases_adds_the_seeded_part_through_the_catalogue(tmp_path: Path) -> None:
    engine = Engine(Settings(home=tmp_path))
    try:
        engine.import_catalogue(TINY / "product.csv")
        counts = seed_aliases(engine)
        stored = engine.graph.aliases()
        assert counts["seeded"] == sum(len(v) for v in stored.values()) > 10
        assert counts["held_out"] == sum(s.held_out for s in alias_seeds())
        held_out = {s.alias for s in alias_seeds() if s.held_out}
        seeded = {s.alias for s in alias_seeds() if not s.held_out}
        for aliases in stored.values():
            # A word both seeded for one entity and held out for another may appear.
            assert all(a in seeded for a in aliases)
        only_held = held_out - seeded
        assert only_held and not any(engine.graph.resolve_alias(a) for a in only_held)
        changes = [c for c in engine.graph.changes() if c.actor == "demo:aliases"]
        assert len(changes) == counts["seeded"]
    finally:
        engine.close()
