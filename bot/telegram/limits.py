"""Per-user limits: allowlist, questions per hour, daily LLM budget."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field

from bot.storage import Store

HOUR_S = 3600.0
# How long a budget reservation may last at most (it ends earlier with its question): the
# longest default answer time, a local model's.
BUDGET_HOLD_S = 300.0


def _process_token() -> str:
    from bot.telegram.resume import process_token  # resume imports this module

    return process_token()


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
    # names this process's budget reservations as its questions in flight are named (a
    # reservation counts while its question is in this process's hands)
    holder: str = field(default_factory=_process_token)
    budget_hold_s: float = BUDGET_HOLD_S

    def is_admin(self, user_id: int) -> bool:
        """True for the configured admin ids."""
        return user_id in self.admin_ids

    def is_allowed(self, user_id: int) -> bool:
        """Empty allowlist = everyone; admins are always allowed."""
        allowed = self.allowed_user_ids
        return not allowed or user_id in allowed or user_id in self.admin_ids

    def check(self, user_id: int, *, can_go_offline: bool) -> Verdict:
        """Verdict for a new question from the user.

        With a budget, ANSWER reserves one answer's cost for this process
        (`Store.hold_budget`): today's cost plus what other workers' answers to the user in
        progress reserved must stay under the budget, so that workers answering one user at
        once cannot overspend it; alone, this is today's cost under the budget.
        """
        since = self.clock() - HOUR_S
        if self.store.questions_since(user_id, since) >= self.questions_per_hour:
            return Verdict.RATE_LIMITED
        budget = self.daily_budget_eur
        if budget is not None and not self.store.hold_budget(
            user_id, self.holder, budget, self.budget_hold_s
        ):
            return Verdict.OFFLINE if can_go_offline else Verdict.BUDGET_SPENT
        return Verdict.ANSWER
