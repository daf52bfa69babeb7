"""What the bot knows about an owner, shown to them: the profile card of `/profil` and the
copy of everything stored (`/mesdonnees`, GDPR rights of access and portability)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from telegram import InputFile, Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot import messages as msg
from bot.advice import Profile
from bot.storage import Store
from bot.telegram import keyboards as kb
from bot.telegram.answering import chat_tag

log = logging.getLogger(__name__)


def _euros(amount: float) -> str:
    return f"{amount:.2f}".rstrip("0").rstrip(".").replace(".", ",")


def budget_label(budget: float | None) -> str:
    """The budget as the questionnaire showed it ("< 50 €"), else "120 € par mois"."""
    if budget is None:
        return msg.PROFILE_UNSET
    for label, euros in kb.BUDGETS.values():
        if euros == budget:
            return label + " par mois"
    return msg.PROFILE_BUDGET_EUR.format(amount=_euros(budget))


def profile_card(profile: Profile, sector_labels: kb.Choices) -> str:
    """The saved profile in four short French lines."""
    sectors, sizes = dict(sector_labels), dict(kb.SIZES)
    unset = msg.PROFILE_UNSET
    priority = profile.priority
    return msg.PROFILE_CARD.format(
        sector=sectors.get(profile.sector or "", profile.sector or unset),
        size=sizes.get(profile.size or "", profile.size or unset),
        budget=budget_label(profile.monthly_budget_eur),
        priority=priority[:1].upper() + priority[1:] if priority else unset,
    )


def has_answers(profile: Profile | None) -> bool:
    """True when at least one question of the profile was answered."""
    return profile is not None and any(value is not None for value in profile.model_dump().values())


@dataclass
class OwnerData:
    """`/profil` when a profile exists, and `/mesdonnees`."""

    store: Store
    sectors: kb.Choices  # the profile menu's sectors and their labels

    async def show_profile(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
        """Send the saved profile with a « Modifier » button; False when there is none."""
        chat, user = update.effective_chat, update.effective_user
        assert chat is not None and user is not None
        profile = self.store.get_profile(user.id)
        if profile is None or not has_answers(profile):
            return False
        await context.bot.send_message(
            chat.id, profile_card(profile, self.sectors), reply_markup=kb.profile_edit()
        )
        return True

    async def export(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Send everything stored about the user as a JSON file, in a private chat only."""
        chat, user = update.effective_chat, update.effective_user
        assert chat is not None and user is not None
        if chat.type != ChatType.PRIVATE:
            await context.bot.send_message(chat.id, msg.MY_DATA_PRIVATE_ONLY)
            return
        data = self.store.export_user(user.id)
        body = json.dumps(data, ensure_ascii=False, indent=2).encode()
        document = InputFile(body, filename=msg.MY_DATA_FILE)
        await context.bot.send_document(chat.id, document, caption=msg.MY_DATA_CAPTION)
        log.info("user data exported (user=%s, %d bytes)", chat_tag(user.id), len(body))
