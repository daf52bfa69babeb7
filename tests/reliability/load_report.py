"""Print the load figures: `python -m tests.reliability.load_report [USERS] [PER_USER]`.

Builds the real knowledge/ index with the hashing embedder, then runs `load.run_load`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from retrieval import open_knowledge_base
from tests.fakes.embedder import HashEmbedder
from tests.reliability.load import run_load

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"


def main(argv: list[str]) -> int:
    """Run one load and print its summary."""
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    users = int(argv[0]) if argv else 300
    per_user = int(argv[1]) if len(argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp:
        embedder = HashEmbedder()
        kb = open_knowledge_base(
            index_dir=Path(tmp) / "index", knowledge_dir=KNOWLEDGE,
            embedding_model=embedder.model_name, embedder=embedder,
        )  # fmt: skip
        kb.ingest([KNOWLEDGE], progress=False)
        try:
            result = asyncio.run(run_load(kb, Path(tmp) / "data", users=users, per_user=per_user))
        finally:
            kb.close()
    print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
