"""Inline keyboards and their callback data (always at most 64 bytes)."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import messages as msg
from bot.storage import Checklist
from retrieval.vocabulary import ALL_SECTORS, DomainVocabulary

# (code stored in the profile, label shown)
Choices = tuple[tuple[str, str], ...]
SIZES: tuple[tuple[str, str], ...] = (
    ("seul", "Seul(e)"),
    ("2-9", "2 à 9"),
    ("10-49", "10 à 49"),
    ("50+", "50 et plus"),
)
# budget code -> (label, euros per month stored in the profile)
BUDGETS: dict[str, tuple[str, float]] = {
    "0": ("0 €", 0.0),
    "50": ("< 50 €", 50.0),
    "200": ("50 à 200 €", 200.0),
    "500": ("> 200 €", 500.0),
}
PRIORITIES: tuple[tuple[str, str], ...] = (
    ("temps", "Gagner du temps"),
    ("clients", "Répondre aux clients"),
    ("marketing", "Marketing"),
    ("compta", "Comptabilité"),
    ("devis", "Devis / administratif"),
    ("visuels", "Visuels / vidéo"),
)

# callback data prefixes
PROFILE = "p"
ADVICE_CHECKLIST, ADVICE_COST, ADVICE_OTHER = "a:ck", "a:co", "a:alt"
TICK = "c:t:"
EXPORT_MD, EXPORT_ICS, REMIND_ON, REMIND_OFF = "c:md", "c:ics", "c:r1", "c:r0"
FORGET_YES, FORGET_NO = "f:yes", "f:no"
PROFILE_EDIT = "p:edit"
# votes: "v:+:<answer_id>", "v:-:<answer_id>", reasons "v:r:<code>:<answer_id>" (< 30 bytes)
VOTE = "v"
VOTE_UP, VOTE_DOWN, VOTE_REASON = "+", "-", "r"
REASON_CODES: dict[str, str] = {
    "u": "unclear",
    "t": "wrong_tool",
    "e": "too_expensive",
    "f": "wrong_fact",
    "o": "other",
}


def _grid(buttons: list[InlineKeyboardButton], width: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([buttons[i : i + width] for i in range(0, len(buttons), width)])


def sector_choices(vocabulary: DomainVocabulary) -> Choices:
    """The sectors of the knowledge vocabulary with their labels, then « Autre »."""
    declared = tuple((code, sector.label) for code, sector in vocabulary.sectors.items())
    return (*declared, (ALL_SECTORS, msg.PROFILE_SECTOR_OTHER))


def profile_step(step: str, sectors: Choices) -> InlineKeyboardMarkup:
    """Keyboard of one profile step: s(ector), z(size), b(udget), p(riority)."""
    choices: list[tuple[str, str]] = {
        "s": list(sectors),
        "z": list(SIZES),
        "b": [(code, label) for code, (label, _) in BUDGETS.items()],
        "p": list(PRIORITIES),
    }[step]
    buttons = [
        InlineKeyboardButton(label, callback_data=f"{PROFILE}:{step}:{code}")
        for code, label in choices
    ]
    return _grid(buttons, 2)


def advice_buttons(
    *, pilot: bool, tools: bool, answer_id: int | None = None
) -> InlineKeyboardMarkup | None:
    """Buttons under an answer: the checklist and another option only with a pilot, the
    cost detail only with tools, then 👍 / 👎 when the answer is logged; None when there is
    nothing to open."""
    buttons = []
    if pilot:
        buttons.append(InlineKeyboardButton(msg.BUTTON_CHECKLIST, callback_data=ADVICE_CHECKLIST))
    if tools:
        buttons.append(InlineKeyboardButton(msg.BUTTON_COST, callback_data=ADVICE_COST))
    if pilot:
        buttons.append(InlineKeyboardButton(msg.BUTTON_OTHER, callback_data=ADVICE_OTHER))
    rows = [buttons] if buttons else []
    if answer_id is not None:
        rows.append(vote_row(answer_id, None))
    return InlineKeyboardMarkup(rows) if rows else None


def vote_row(answer_id: int, vote: int | None) -> list[InlineKeyboardButton]:
    """👍 / 👎 for one answer; the current vote is ticked."""
    row = []
    for value, sign, label in (
        (1, VOTE_UP, msg.BUTTON_VOTE_UP),
        (-1, VOTE_DOWN, msg.BUTTON_VOTE_DOWN),
    ):
        shown = msg.BUTTON_VOTED.format(label=label) if vote == value else label
        row.append(InlineKeyboardButton(shown, callback_data=f"{VOTE}:{sign}:{answer_id}"))
    return row


def with_vote(
    markup: InlineKeyboardMarkup | None, answer_id: int, vote: int
) -> InlineKeyboardMarkup:
    """`markup` (the keyboard under an answer) with its vote row showing `vote`."""
    rows = [
        list(row)
        for row in (markup.inline_keyboard if markup is not None else ())
        if not any(str(b.callback_data or "").startswith(f"{VOTE}:") for b in row)
    ]
    return InlineKeyboardMarkup([*rows, vote_row(answer_id, vote)])


def vote_reasons(answer_id: int) -> InlineKeyboardMarkup:
    """One tap for the reason of a 👎."""
    buttons = [
        InlineKeyboardButton(
            msg.VOTE_REASONS[reason], callback_data=f"{VOTE}:{VOTE_REASON}:{code}:{answer_id}"
        )
        for code, reason in REASON_CODES.items()
    ]
    return _grid(buttons, 2)


def profile_edit() -> InlineKeyboardMarkup:
    """The button under the profile card."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(msg.BUTTON_PROFILE_EDIT, callback_data=PROFILE_EDIT)]]
    )


def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def checklist_buttons(checklist: Checklist, reminders_on: bool) -> InlineKeyboardMarkup:
    """One tickable button per item, then exports and reminders."""
    ticks = [[_tick_button(checklist, i, item)] for i, item in enumerate(checklist.items)]
    exports = [
        InlineKeyboardButton(msg.BUTTON_EXPORT_MD, callback_data=EXPORT_MD),
        InlineKeyboardButton(msg.BUTTON_EXPORT_ICS, callback_data=EXPORT_ICS),
    ]
    label, data = (
        (msg.BUTTON_REMINDERS_OFF, REMIND_OFF)
        if reminders_on
        else (msg.BUTTON_REMINDERS_ON, REMIND_ON)
    )
    return InlineKeyboardMarkup(
        [*ticks, exports, [InlineKeyboardButton(label, callback_data=data)]]
    )


def _tick_button(checklist: Checklist, index: int, item: str) -> InlineKeyboardButton:
    box = "✅" if index in checklist.ticked else "⬜"
    return InlineKeyboardButton(f"{box} {_short(item)}", callback_data=f"{TICK}{index}")


def forget_confirmation() -> InlineKeyboardMarkup:
    """Confirm or cancel `/oubli`."""
    erase = InlineKeyboardButton(msg.BUTTON_FORGET_YES, callback_data=FORGET_YES)
    cancel = InlineKeyboardButton(msg.BUTTON_CANCEL, callback_data=FORGET_NO)
    return InlineKeyboardMarkup([[erase, cancel]])
