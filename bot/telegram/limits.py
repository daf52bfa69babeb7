"""Per-user limits: allowlist, questions per hour, daily LLM budget."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from bot.storage import Store

HOUR_S = 3600.0


class Verdict(enum.Enum):
    """What to do with a question."""

    ANSWER = "answer"
    OFFLINE = "offline"  # LLM budget spent: answer from the knowledge base alone
    RATE_LIMITED = "rate_limited"
    BUDGET_SPENT = "budget_spent"  # budget spent and no offline advisor to fall back on


class Limits:
    """Decides, from the store's counters, whether a user may ask now."""

    def __init__(
        self,
        store: Store,
        *,
        questions_per_hour: int,
        daily_budget_eur: float | None,
        allowed_user_ids: frozenset[int] = frozenset(),
        admin_ids: frozenset[int] = frozenset(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._per_hour = questions_per_hour
        self._budget = daily_budget_eur
        self._allowed = allowed_user_ids
        self._admins = admin_ids
        self._clock = clock

    def is_admin(self, user_id: int) -> bool:
        """True for the configured admin ids."""
        return user_id in self._admins

    def is_allowed(self, user_id: int) -> bool:
        """Empty allowlist = everyone; admins are always allowed."""
        return not self._allowed or user_id in self._allowed or user_id in self._admins

    def check(self, user_id: int, *, can_go_offline: bool) -> Verdict:
        """Verdict for a new question from the user."""
        since = self._clock() - HOUR_S
        if self._store.questions_since(user_id, since) >= self._per_hour:
            return Verdict.RATE_LIMITED
        # None: no LLM configured, so there is nothing to budget
        if self._budget is not None and self._store.cost_today(user_id) >= self._budget:
            return Verdict.OFFLINE if can_go_offline else Verdict.BUDGET_SPENT
        return Verdict.ANSWER
