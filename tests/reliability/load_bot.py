"""The bot under load in its own process: `python -m tests.reliability.load_bot DATA TG LLM`.

Started by `load.run_load_process`: indexes knowledge/ with the hashing embedder into
DATA/index, then runs the real Application (same settings as the in-process load) against
the fake Bot API at TG and the fake LLM at LLM until SIGTERM, and prints `load_bot errors=N`.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from tests.fakes.embedder import hash_indexed_kb
from tests.reliability.load import ROOT, load_limiter, load_settings
from tests.reliability.support import BotRun

KNOWLEDGE = ROOT / "knowledge"


async def serve(data_dir: Path, telegram_url: str, llm_url: str) -> int:
    """Run the bot until SIGTERM; returns the number of handler errors."""
    kb = hash_indexed_kb(data_dir / "index", KNOWLEDGE)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    settings = load_settings(data_dir, telegram_url, llm_url)
    try:
        async with BotRun(settings, kb, rate_limiter=load_limiter()) as run:
            await stop.wait()
            return len(run.errors)
    finally:
        kb.close()


def main(argv: list[str]) -> int:
    """Entry point: DATA_DIR TELEGRAM_BASE_URL LLM_BASE_URL."""
    data_dir, telegram_url, llm_url = argv
    errors = asyncio.run(serve(Path(data_dir), telegram_url, llm_url))
    print(f"load_bot errors={errors}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
