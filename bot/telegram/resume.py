"""Who answers a question in flight: a token naming this process, and whether another is alive.

Every pending question (see `bot.storage.PendingQuestion`) names the process answering it.
A restarted bot takes over the questions of a dead process at once, and those of a process it
cannot check (another machine or container) once their lease expired. The token holds the
host name, the pid and the pid's start time (from /proc), so a new process that got the same
pid, as pid 1 does in a restarted container, is not mistaken for the old one.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from pathlib import Path

PROC = Path("/proc")


def _start_ticks(pid: int) -> str | None:
    """Start time of a process in clock ticks since boot; None when unknown or gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text("ascii", errors="replace")
    except OSError:
        return None
    # fields after the command name (which may hold spaces and parentheses)
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


@cache
def process_token() -> str:
    """`host/pid/start` of the current process."""
    pid = os.getpid()
    return f"{socket.gethostname()}/{pid}/{_start_ticks(pid) or '?'}"


def owner_alive(token: str) -> bool:
    """False only when `token` surely names a process that no longer runs.

    A process of another host, or one this system cannot inspect, counts as alive: its
    questions are taken over when their lease expires.
    """
    host, _, rest = token.partition("/")
    pid_text, _, start = rest.partition("/")
    if host != socket.gethostname() or not pid_text.isdigit() or start == "?":
        return True
    if not PROC.joinpath("self").exists():
        return True
    return _start_ticks(int(pid_text)) == start
