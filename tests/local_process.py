"""The local server as a person runs it (``python -m local.server``, what ``make dev`` starts): its own
process, its own SQLite file, its logs read back from what it printed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"Prompter API on (http://127\.0\.0\.1:\d+)")
START_TIMEOUT = 90.0

# The test run's own settings that a person's shell would not have.
NOT_INHERITED = ("POWERTOOLS_LOG_LEVEL", "POWERTOOLS_METRICS_DISABLED", "PROMPTER_LOCAL_LOG", "DATABASE_URL")


@dataclass
class ServerProcess:
    url: str
    stdout: Path
    stderr: Path

    def output(self) -> tuple[str, str]:
        return self.stdout.read_text(encoding="utf-8"), self.stderr.read_text(encoding="utf-8")


# How `make dev` starts the server (on a free port).
COMMAND = [sys.executable, "-m", "local.server", "--port", "0"]


def server_environment(directory: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A person's shell: this one without the test run's own settings, its own SQLite file in
    ``directory``, no version sweep, then ``env``."""
    environment = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    environment.update(
        {
            "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'shared'}",
            "DATABASE_URL": f"sqlite:///{directory / 'local.db'}",
            "PROMPTER_LOCAL_SWEEP_SECONDS": "0",
            **(env or {}),
        }
    )
    return environment


@contextmanager
def local_server(directory: Path, env: Mapping[str, str] | None = None) -> Iterator[ServerProcess]:
    """Start the local server on a free port; stop it (Ctrl-C) on exit. Its output stays readable
    after it stopped."""
    environment = server_environment(directory, env)
    stdout, stderr = directory / "stdout.log", directory / "stderr.log"
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(
            COMMAND,
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        url = None
        while url is None:
            found = READY.search(stderr.read_text(encoding="utf-8"))
            if found:
                url = found.group(1)
            elif process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the local server did not start:\n{stderr.read_text(encoding='utf-8')}")
            else:
                time.sleep(0.1)
        yield ServerProcess(url, stdout, stderr)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
