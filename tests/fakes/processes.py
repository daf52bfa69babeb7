"""Real server processes for tests: free loopback ports, readiness polling, clean stops."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.config import SETTING_PREFIXES

BIN = Path(sys.executable).parent
CHROMA = BIN / "chroma"


def env_with(**settings: str) -> dict[str, str]:
    """This process's environment without any pilote-ia setting, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    env.update(settings)
    return env


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    """Poll `url` until the process answers (any HTTP status); fail the test if it dies."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # an error status is still an answer
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{url} never answered:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Terminate a process, killing it if it does not stop in time."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start(argv: Sequence[str], log: Path, ready_url: str) -> subprocess.Popen[bytes]:
    """Start `argv` with its output appended to `log` and wait until `ready_url` answers."""
    with log.open("ab") as out:
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT)
    wait_http(ready_url, proc, log)
    return proc


def start_chroma(path: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """A `chroma run` server on 127.0.0.1:`port` storing its data in `path`."""
    if not CHROMA.exists():
        pytest.skip("the chroma CLI is not installed in this environment")
    argv = [str(CHROMA), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
    return start(argv, log, f"http://127.0.0.1:{port}/api/v2/heartbeat")


@contextmanager
def chroma_server(tmp_path: Path) -> Iterator[int]:
    """Run a Chroma server for the duration of the block; yields its port."""
    port = free_port()
    proc = start_chroma(tmp_path / "chroma-server", port, tmp_path / "chroma.log")
    try:
        yield port
    finally:
        stop(proc)
