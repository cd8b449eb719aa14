"""The contract every :class:`~kg.rule_store.RuleStore` backend passes (SQLite, Neo4j):
ids never reused, versions and optimistic concurrency, the change log, restore after a
delete, and drop."""

from __future__ import annotations

import pytest

from kg.rule_store import RuleConflict, RuleStore, UnknownRule

BODY = {"draft": {"action": "hide", "when": {"brand": "brand:oakhaven"}}, "published": None}
OTHER = {"draft": {"action": "hide", "when": {"brand": "brand:birchley"}}, "published": None}


class RuleStoreContract:
    """Subclasses provide a ``store`` fixture: an empty store."""

    def test_create_gives_new_ids_and_version_one(self, store: RuleStore) -> None:
        first = store.put(None, BODY, expected_version=None, actor="ann")
        second = store.put(None, OTHER, expected_version=None, actor="ann")
        assert (first.id, first.version) == (1, 1)
        assert (second.id, second.version) == (2, 1)
        assert store.get(1) == first
        assert [r.id for r in store.rules()] == [1, 2]
        assert store.get(3) is None

    def test_update_checks_the_version_read(self, store: RuleStore) -> None:
        rule = store.put(None, BODY, expected_version=None, actor="ann")
        updated = store.put(rule.id, OTHER, expected_version=1, actor="bob", note="edit")
        assert updated.version == 2 and store.get(rule.id) == updated
        with pytest.raises(RuleConflict, match="version 2, not 1"):
            store.put(rule.id, BODY, expected_version=1, actor="bob")
        assert store.get(rule.id) == updated  # nothing of the refused write stored

    def test_an_unchanged_body_makes_no_version(self, store: RuleStore) -> None:
        rule = store.put(None, BODY, expected_version=None, actor="ann")
        again = store.put(rule.id, BODY, expected_version=1, actor="ann")
        assert again.version == 1
        assert len(store.changes()) == 1

    def test_update_of_a_missing_rule_is_unknown(self, store: RuleStore) -> None:
        with pytest.raises(UnknownRule, match="no rule #7"):
            store.put(7, BODY, expected_version=None, actor="ann")
        with pytest.raises(UnknownRule):
            store.delete(7, expected_version=None, actor="ann")

    def test_the_change_log_records_who_did_what(self, store: RuleStore) -> None:
        rule = store.put(None, BODY, expected_version=None, actor="ann")
        store.put(rule.id, OTHER, expected_version=1, actor="bob", note="publish")
        store.delete(rule.id, expected_version=2, actor="cy")
        log = store.changes()
        assert [(c.seq, c.op, c.actor, c.rule_id) for c in log] == [
            (1, "create", "ann", 1),
            (2, "update", "bob", 1),
            (3, "delete", "cy", 1),
        ]
        assert log[0].before is None and log[0].after == BODY
        assert log[1].before == BODY and log[1].after == OTHER and log[1].note == "publish"
        assert log[2].before == OTHER and log[2].after is None
        assert [c.seq for c in store.changes(since=1)] == [2, 3]
        assert store.revision == 3
        assert store.get(rule.id) is None

    def test_changes_filter_by_rule(self, store: RuleStore) -> None:
        a = store.put(None, BODY, expected_version=None, actor="ann")
        b = store.put(None, OTHER, expected_version=None, actor="ann")
        store.put(a.id, OTHER, expected_version=1, actor="ann")
        assert [c.seq for c in store.changes(rule_id=a.id)] == [1, 3]
        assert [c.seq for c in store.changes(rule_id=b.id)] == [2]

    def test_delete_checks_the_version(self, store: RuleStore) -> None:
        rule = store.put(None, BODY, expected_version=None, actor="ann")
        with pytest.raises(RuleConflict):
            store.delete(rule.id, expected_version=5, actor="ann")
        assert store.get(rule.id) is not None

    def test_a_deleted_rule_comes_back_under_its_id_and_ids_are_never_reused(
        self, store: RuleStore
    ) -> None:
        rule = store.put(None, BODY, expected_version=None, actor="ann")
        store.delete(rule.id, expected_version=1, actor="ann")
        fresh = store.put(None, OTHER, expected_version=None, actor="ann")
        assert fresh.id == rule.id + 1
        with pytest.raises(UnknownRule):  # a restore must say the rule is expected absent
            store.put(rule.id, BODY, expected_version=None, actor="ann")
        restored = store.put(rule.id, BODY, expected_version=0, actor="ann", note="undo #2")
        assert (restored.id, restored.version) == (rule.id, 1)
        with pytest.raises(RuleConflict):  # it exists now
            store.put(rule.id, BODY, expected_version=0, actor="ann")
        with pytest.raises(UnknownRule):  # an id never handed out cannot be "restored"
            store.put(99, BODY, expected_version=0, actor="ann")

    def test_an_actor_is_required(self, store: RuleStore) -> None:
        with pytest.raises(ValueError, match="actor"):
            store.put(None, BODY, expected_version=None, actor=" ")

    def test_drop_empties_the_store(self, store: RuleStore) -> None:
        store.put(None, BODY, expected_version=None, actor="ann")
        store.drop()
        assert store.rules() == [] and store.changes() == [] and store.revision == 0
        assert store.put(None, BODY, expected_version=None, actor="ann").id == 1
