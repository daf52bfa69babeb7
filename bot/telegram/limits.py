"""Per-user limits: allowlist, questions per hour, daily LLM budget."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass

from bot.storage import Store

HOUR_S = 3600.0


class Verdict(enum.Enum):
    """What to do with a question."""

    ANSWER = "answer"
    OFFLINE = "offline"  # LLM budget spent: answer from the knowledge base alone
    RATE_LIMITED = "rate_limited"
    BUDGET_SPENT = "budget_spent"  # budget spent and no offline advisor to fall back on


@dataclass(frozen=True)
class Limits:
    """Decides, from the store's counters, whether a user may ask now."""

    store: Store
    _: KW_ONLY
    questions_per_hour: int
    daily_budget_eur: float | None  # None: no LLM configured, so there is nothing to budget
    allowed_user_ids: frozenset[int] = frozenset()  # empty: everyone
    admin_ids: frozenset[int] = frozenset()
    clock: Callable[[], float] = time.time

    def is_admin(self, user_id: int) -> bool:
        """True for the configured admin ids."""
        return user_id in self.admin_ids

    def is_allowed(self, user_id: int) -> bool:
        """Empty allowlist = everyone; admins are always allowed."""
        allowed = self.allowed_user_ids
        return not allowed or user_id in allowed or user_id in self.admin_ids

    def check(self, user_id: int, *, can_go_offline: bool) -> Verdict:
        """Verdict for a new question from the user."""
        since = self.clock() - HOUR_S
        if self.store.questions_since(user_id, since) >= self.questions_per_hour:
            return Verdict.RATE_LIMITED
        budget = self.daily_budget_eur
        if budget is not None and self.store.cost_today(user_id) >= budget:
            return Verdict.OFFLINE if can_go_offline else Verdict.BUDGET_SPENT
        return Verdict.ANSWER
