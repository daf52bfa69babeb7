"""Workers racing on one database (each thread holds its own store, as a worker process would
its own connection): nothing is lost, nothing is handed out twice, no budget is overspent."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from bot.storage import PENDING_LEASE_S, PendingQuestion, Store
from bot.telegram.limits import Limits, Verdict
from tests.storage.conftest import Backend, Clock
from tests.storage.test_answer_log import record

WORKERS = 4
T = TypeVar("T")


def race(backend: Backend, work: Callable[[Store, int], T], workers: int = WORKERS) -> list[T]:
    """Run `work(store, worker)` in threads released together, each on its own store; the
    results in worker order (a worker's exception fails the test)."""
    stores = [backend.open() for _ in range(workers)]
    barrier = threading.Barrier(workers)
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            barrier.wait()
            results[worker] = work(stores[worker], worker)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [results[w] for w in range(workers)]


def test_concurrent_taps_on_one_checklist_lose_no_tick(backend: Backend) -> None:
    items, users = [f"tâche {i}" for i in range(12)], range(1, 7)
    first = backend.open()
    for user in users:
        first.save_checklist(user, items, "2026-11-23")

    def tap_every_item(store: Store, worker: int) -> None:
        for user in users:
            for idx in range(len(items)):
                store.toggle_tick(user, idx)  # all in the same order: taps collide

    race(backend, tap_every_item, workers=3)  # each item tapped three times: ticked
    for user in users:
        checklist = first.checklist(user)
        assert checklist is not None and checklist.ticked == frozenset(range(len(items)))


def test_each_inbox_item_is_claimed_by_one_worker(backend: Backend) -> None:
    first = backend.open()
    for update_id in range(1, 121):
        assert first.inbox_put(update_id, f'{{"update_id": {update_id}}}')

    def claim_all(store: Store, worker: int) -> list[int]:
        got: list[int] = []
        while batch := store.inbox_claim(f"w{worker}", 60.0, limit=5):
            got += [item.update_id for item in batch]
        return got

    claimed = race(backend, claim_all)
    counts = Counter(update_id for got in claimed for update_id in got)
    assert sorted(counts) == list(range(1, 121))
    assert set(counts.values()) == {1}


def test_concurrent_puts_of_one_update_store_it_once(backend: Backend) -> None:
    def put_all(store: Store, worker: int) -> int:
        return sum(store.inbox_put(update_id, "{}") for update_id in range(1, 51))

    assert sum(race(backend, put_all)) == 50


def test_orphaned_questions_are_taken_over_once(backend: Backend) -> None:
    first = backend.open()
    for update_id in range(1, 41):
        first.mark_question(PendingQuestion(update_id, 10, update_id, "q ?", owner="dead"))

    def take_over(store: Store, worker: int) -> list[int]:
        return [u for u in range(1, 41) if store.claim_question(u, "dead", f"w{worker}")]

    taken = race(backend, take_over)
    assert sorted(u for got in taken for u in got) == list(range(1, 41))
    owners = {p.update_id: p.owner for p in first.pending_questions()}
    assert all(owners[u] == f"w{w}" for w, got in enumerate(taken) for u in got)


def test_one_update_delivered_to_every_worker_is_processed_once(backend: Backend) -> None:
    def mark(store: Store, worker: int) -> list[bool]:
        asked = [PendingQuestion(u, 10, 1, "q ?", owner=f"w{worker}") for u in range(1, 31)]
        return [store.mark_question(pending) for pending in asked]

    marks = race(backend, mark)
    assert [sum(column) for column in zip(*marks, strict=True)] == [1] * 30


def test_workers_answering_one_user_at_once_do_not_overspend(backend: Backend) -> None:
    """Four workers get a question of the same user at the same instant; an answer costs
    0.3 € and the cap is 0.5 €: two answers start (0 € spent, then 0.3 € reserved), as one
    worker alone would give them one after the other (eight users in turn)."""
    cost, cap, users = 0.3, 0.5, range(7, 15)
    backend.open().record_answer(record(99, cost_eur=cost))  # what an answer costs
    together = threading.Barrier(WORKERS)

    def answer_together(store: Store, worker: int) -> list[bool]:
        started = []
        for user in users:
            asked = PendingQuestion(100 * user + worker, 10, user, "q ?", owner=f"w{worker}")
            store.mark_question(asked)
            together.wait()
            started.append(store.hold_budget(user, f"w{worker}", cap, 60.0))
            together.wait()  # every worker decided before any answer is paid
            if started[-1]:
                store.add_usage(user, 100, 50, cost)  # ... the LLM answered
            store.finish_question(asked.update_id)
        return started

    started = race(backend, answer_together)
    assert [sum(column) for column in zip(*started, strict=True)] == [2] * len(users)
    final = backend.open()
    assert all(abs(final.cost_today(user) - 2 * cost) < 1e-9 for user in users)


def test_limits_of_workers_share_one_users_budget(backend: Backend) -> None:
    store = backend.open()
    store.record_answer(record(99, cost_eur=0.3))  # the dearest answer so far
    first, second, third = (
        Limits(store, questions_per_hour=20, daily_budget_eur=0.5, holder=name)
        for name in ("w1", "w2", "w3")
    )
    store.mark_question(PendingQuestion(1, 70, 7, "q1 ?", owner="w1"))
    store.mark_question(PendingQuestion(2, 70, 7, "q2 ?", owner="w2"))
    assert first.check(7, can_go_offline=True) is Verdict.ANSWER  # reserves 0.3 €
    assert first.check(7, can_go_offline=True) is Verdict.ANSWER  # its own reservation
    assert second.check(7, can_go_offline=True) is Verdict.ANSWER  # 0.3 € < 0.5 €
    store.mark_question(PendingQuestion(3, 70, 7, "q3 ?", owner="w3"))
    assert third.check(7, can_go_offline=True) is Verdict.OFFLINE  # 0.6 € reserved
    assert third.check(8, can_go_offline=True) is Verdict.ANSWER  # another user
    store.add_usage(7, 100, 50, 0.3)
    store.finish_question(1)  # w1's answer is paid and sent
    assert third.check(7, can_go_offline=True) is Verdict.OFFLINE  # 0.3 € spent + 0.3 €
    store.finish_question(2)  # w2's answer cost nothing (the LLM failed)
    assert third.check(7, can_go_offline=False) is Verdict.ANSWER  # 0.3 € spent
    store.add_usage(7, 100, 50, 0.2)
    assert first.check(7, can_go_offline=True) is Verdict.OFFLINE  # 0.5 € spent
    assert first.check(7, can_go_offline=False) is Verdict.BUDGET_SPENT
    unbudgeted = Limits(store, questions_per_hour=20, daily_budget_eur=None)
    assert unbudgeted.check(7, can_go_offline=False) is Verdict.ANSWER  # offline bot


def test_a_worker_alone_answers_while_the_cost_is_under_the_cap(store: Store) -> None:
    store.record_answer(record(99, cost_eur=0.3))
    store.add_usage(7, 100, 50, 0.45)
    store.mark_question(PendingQuestion(1, 70, 7, "q ?", owner="w"))
    assert store.hold_budget(7, "w", 0.5, 300.0)  # as before: 0.45 € < 0.5 €
    store.add_usage(7, 100, 50, 0.3)
    assert not store.hold_budget(7, "w", 0.5, 300.0)


def test_a_reservation_ends_with_its_lease(store: Store, clock: Clock) -> None:
    store.record_answer(record(99, cost_eur=1.0))
    store.mark_question(PendingQuestion(1, 70, 7, "q ?", owner="lost"))
    assert store.hold_budget(7, "lost", 1.0, 30.0)
    assert not store.hold_budget(7, "alive", 1.0, 30.0)
    clock.now += 31
    assert store.hold_budget(7, "alive", 1.0, 30.0)


def test_a_reservation_ends_when_its_question_leaves_its_holder(store: Store, clock: Clock) -> None:
    """Taken over from a dead worker, answered without a cost (the LLM failed), or orphaned
    (its worker's lease on it expired): the question no longer holds the user's budget."""
    store.record_answer(record(99, cost_eur=1.0))
    for update_id, user in ((1, 7), (2, 8), (3, 9)):
        store.mark_question(PendingQuestion(update_id, 70, user, "q ?", owner="w"))
        assert store.hold_budget(user, "w", 1.0, 600.0)
        assert not store.hold_budget(user, "other", 1.0, 600.0)
    assert store.claim_question(1, "w", "other")
    assert store.hold_budget(7, "other", 1.0, 600.0)
    store.finish_question(2)
    assert store.hold_budget(8, "other", 1.0, 600.0)
    clock.now += PENDING_LEASE_S + 1
    assert store.hold_budget(9, "other", 1.0, 600.0)


def test_free_answers_reserve_nothing(store: Store) -> None:
    """A local model costs nothing: a dead worker's reservation blocks nobody."""
    store.record_answer(record(99, cost_eur=0.0))
    store.mark_question(PendingQuestion(1, 70, 7, "q ?", owner="dead"))
    assert store.hold_budget(7, "dead", 0.2, 300.0)
    assert store.hold_budget(7, "alive", 0.2, 300.0)
