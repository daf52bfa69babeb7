"""Print the load figures: `python -m tests.reliability.load_report [USERS] [PER_USER] [options]`.

By default the bot runs in its own process (`load_bot.py`, knowledge/ indexed with the
hashing embedder) while this process holds the fake Bot API, the fake LLM and the simulated
owners: the CPU time and memory printed are the bot's alone. `--in-process` runs everything
in one process, as `test_load.py` does. `--profile FILE` records the bot with py-spy
(`.venv/bin/pip install py-spy`; sampling only the thread holding the GIL) and prints the
functions where its CPU time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

from tests.fakes.embedder import hash_indexed_kb
from tests.reliability.load import LoadResult, run_load, run_load_process

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"
_LOCATION = re.compile(r" \((.*?):\d+\)")


def _in_process(tmp: Path, users: int, per_user: int) -> LoadResult:
    kb = hash_indexed_kb(tmp / "index", KNOWLEDGE)
    try:
        return asyncio.run(run_load(kb, tmp / "data", users=users, per_user=per_user))
    finally:
        kb.close()


def profile_summary(raw: Path, top: int = 25) -> str:
    """Share of samples per function in py-spy raw output: self time, then inclusive time."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_LOCATION.sub(r" (\1)", frame) for frame in stack.split(";")[1:]]
        total += int(count)
        if frames:
            own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    if not total:
        return "no samples"
    lines = [f"{total} samples", "-- self time"]
    lines += [f"{n / total:6.1%}  {name[:120]}" for name, n in own.most_common(top)]
    lines += ["-- inclusive time"]
    lines += [f"{n / total:6.1%}  {name[:120]}" for name, n in inclusive.most_common(2 * top)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run one load and print its summary."""
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    parser = argparse.ArgumentParser(prog="load_report")
    parser.add_argument("users", type=int, nargs="?", default=300)
    parser.add_argument("per_user", type=int, nargs="?", default=5)
    parser.add_argument("--in-process", action="store_true", help="bot and fakes in one process")
    parser.add_argument("--profile", type=Path, help="py-spy raw output file for the bot")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    args = parser.parse_args(argv)
    if args.in_process and args.profile:
        parser.error("--profile needs the bot in its own process")
    with tempfile.TemporaryDirectory() as tmp:
        if args.in_process:
            result = _in_process(Path(tmp), args.users, args.per_user)
        else:
            result = asyncio.run(
                run_load_process(
                    Path(tmp) / "data",
                    users=args.users,
                    per_user=args.per_user,
                    profile=args.profile,
                    profile_rate=args.rate,
                )
            )
    print(result.summary())
    if args.profile:
        print(profile_summary(args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
