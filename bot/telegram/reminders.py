"""Daily pilot reminders at 9:00 Paris time: scheduled on opt-in, restored at startup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from telegram.ext import Application, ContextTypes, JobQueue

from bot.storage import Store
from bot.telegram import checklist as ck

PARIS = ZoneInfo("Europe/Paris")
REMINDER_AT = time(9, 0, tzinfo=PARIS)


def today_paris() -> date:
    """Today's date in France (day 1 of a pilot started now)."""
    return datetime.now(PARIS).date()


def _job_name(user_id: int) -> str:
    return f"rappel-{user_id}"


@dataclass
class Reminders:
    """The reminder jobs of the users who opted in, kept in step with the store."""

    store: Store

    def schedule(self, jobs: JobQueue[Any] | None, user_id: int, chat_id: int, on: bool) -> None:
        """Switch the user's daily reminder on or off (the stored choice is the caller's)."""
        if jobs is None:
            return
        for job in jobs.get_jobs_by_name(_job_name(user_id)):
            job.schedule_removal()
        if on:
            name = _job_name(user_id)
            jobs.run_daily(self.remind, REMINDER_AT, name=name, chat_id=chat_id, user_id=user_id)

    async def remind(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The daily 9:00 reminder; stops itself after the pilot."""
        job = context.job
        assert job is not None and job.user_id is not None and job.chat_id is not None
        checklist = self.store.checklist(job.user_id)
        text = ck.reminder_text(checklist, today_paris()) if checklist else None
        if checklist is None or ck.pilot_day(checklist, today_paris()) > ck.PILOT_DAYS:
            self.store.set_reminder(job.user_id, job.chat_id, False)
            job.schedule_removal()
        if text:
            await context.bot.send_message(job.chat_id, text)

    def restore(self, app: Application[Any, Any, Any, Any, Any, Any]) -> int:
        """Re-schedule the opted-in reminders from storage (at startup)."""
        reminders = self.store.reminders()
        for reminder in reminders:
            self.schedule(app.job_queue, reminder.user_id, reminder.chat_id, True)
        return len(reminders)
