"""The inbox: updates written before they are acknowledged, leased to one worker at a time."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.storage import (
    DAY_S,
    MIGRATIONS,
    SCHEMA_VERSION,
    InboxItem,
    PendingQuestion,
    SQLiteStore,
    Store,
)
from tests.storage.conftest import Clock

LEASE_S = 30.0


def test_put_is_idempotent_and_refuses_processed_updates(store: Store) -> None:
    assert store.inbox_put(1, '{"update_id": 1}') is True
    assert store.inbox_put(1, '{"update_id": 1, "again": true}') is False
    store.mark_update(2)
    assert store.inbox_put(2, '{"update_id": 2}') is False
    store.mark_question(PendingQuestion(3, 30, 3, "q ?", owner="w"))
    assert store.inbox_put(3, "{}") is False
    [item] = store.inbox_claim("a", LEASE_S)
    assert item.payload == '{"update_id": 1}'  # the first payload is kept


def test_claim_leases_free_items_oldest_first(store: Store, clock: Clock) -> None:
    for update_id in (12, 11):
        store.inbox_put(update_id, f'{{"update_id": {update_id}}}')
        clock.now += 1
    items = store.inbox_claim("a", LEASE_S)
    assert items == [
        InboxItem(12, '{"update_id": 12}', clock.now - 2, "a", clock.now + LEASE_S),
        InboxItem(11, '{"update_id": 11}', clock.now - 1, "a", clock.now + LEASE_S),
    ]
    assert store.inbox_claim("b", LEASE_S) == []  # leased to a
    store.inbox_put(13, "{}")
    assert [i.update_id for i in store.inbox_claim("b", LEASE_S)] == [13]


def test_claim_respects_the_limit(store: Store) -> None:
    for update_id in range(1, 6):
        store.inbox_put(update_id, "{}")
    assert [i.update_id for i in store.inbox_claim("a", LEASE_S, limit=2)] == [1, 2]
    assert [i.update_id for i in store.inbox_claim("b", LEASE_S, limit=2)] == [3, 4]
    assert [i.update_id for i in store.inbox_claim("a", LEASE_S)] == [5]


def test_expired_lease_is_taken_over_and_renewal_keeps_it(store: Store, clock: Clock) -> None:
    store.inbox_put(1, "{}")
    store.inbox_put(2, "{}")
    assert len(store.inbox_claim("a", LEASE_S)) == 2
    clock.now += LEASE_S - 1
    assert store.inbox_renew("a", LEASE_S) == 2
    assert store.inbox_renew("nobody", LEASE_S) == 0
    clock.now += LEASE_S - 1
    assert store.inbox_claim("b", LEASE_S) == []  # renewed: a is alive
    clock.now += 2  # a died: its leases expire
    taken = store.inbox_claim("b", LEASE_S)
    assert [(i.update_id, i.owner) for i in taken] == [(1, "b"), (2, "b")]
    assert store.inbox_renew("a", LEASE_S) == 0  # the dead worker holds nothing any more


def test_done_removes_the_item(store: Store, clock: Clock) -> None:
    store.inbox_put(1, "{}")
    [item] = store.inbox_claim("a", LEASE_S)
    store.mark_update(item.update_id)
    store.inbox_done(item.update_id)
    clock.now += 10 * LEASE_S
    assert store.inbox_claim("b", LEASE_S) == []
    assert store.inbox_put(1, "{}") is False  # processed: a late re-delivery is refused
    store.inbox_done(99)  # unknown: nothing to do


def test_purge_drops_old_inbox_items(store: Store, clock: Clock) -> None:
    store.inbox_put(1, "{}")
    clock.now += 40 * DAY_S
    store.inbox_put(2, "{}")
    assert store.purge(30) == 1
    assert [i.update_id for i in store.inbox_claim("a", LEASE_S)] == [2]


def test_migrates_a_version_4_file_to_the_inbox(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    db = sqlite3.connect(path)
    db.executescript("".join(MIGRATIONS[:4]))
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_version VALUES (4)")
    db.execute("INSERT INTO processed_updates VALUES (41, 1)")
    db.commit()
    db.close()
    store = SQLiteStore(path)
    assert store.schema_version == SCHEMA_VERSION == 6
    assert store.inbox_put(41, "{}") is False and store.inbox_put(42, "{}") is True
    store.close()
