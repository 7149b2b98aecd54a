"""The mock as a child process for in-run use: settings in; a running server's URLs out, and
the process stopped on exit.

A separate process, not a task on the caller's loop: the harness client must not share a core
and an event loop with the server it measures.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from mock_models.settings import MockSettings

_PR_SET_PDEATHSIG = 1
#: The start of the one line ``python -m mock_models`` prints once it listens.
LISTENING_PREFIX = "tokenstorm-mock listening on "
# The directory holding the mock_models package, so the child imports this very code even
# when the caller's working directory is elsewhere and the project is not installed.
_PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux for SIGTERM when the parent dies."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass


class MockStartError(RuntimeError):
    """The mock process did not come up; the message says why (its stderr included)."""


class EmbeddedMock:
    """``with EmbeddedMock(settings) as mock: ... mock.api_url ...``"""

    def __init__(
        self,
        settings: MockSettings,
        ledger_path: Path | None = None,
        *,
        start_timeout_s: float = 15.0,
        stop_timeout_s: float = 5.0,
        workers: int | None = None,
    ) -> None:
        self._settings = settings
        self._workers = workers
        self._ledger_path = ledger_path
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._base_url: str | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self._base_url is None:
            raise RuntimeError("the embedded mock is not running")
        return self._base_url

    @property
    def api_url(self) -> str:
        """The OpenAI-style base URL (``base_url`` + ``/v1``)."""
        return self.base_url + "/v1"

    @property
    def ledger_url(self) -> str:
        return self.base_url + "/tokenstorm/ledger"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the embedded mock is not running")
        return self._process.pid

    def start(self) -> None:
        """Start the process and wait for its listening line; raises ``MockStartError``."""
        command = [
            sys.executable,
            "-m",
            "mock_models",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--config-json",
            self._settings.model_dump_json(),
        ]
        if self._ledger_path is not None:
            command += ["--ledger-file", str(self._ledger_path)]
        if self._workers is not None:  # else the settings' ``workers``
            command += ["--workers", str(self._workers)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            part for part in (_PROJECT_ROOT, env.get("PYTHONPATH")) if part
        )
        self._stderr = tempfile.TemporaryFile()
        # Its own session: a Ctrl-C in the terminal reaches only the harness, which then
        # drains in-flight requests against a mock that is still up. And it dies with the
        # harness, even a SIGKILLed one, instead of lingering on its port.
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        try:
            self._base_url = self._await_listening_line()
        except BaseException:
            self.stop()
            raise

    def _await_listening_line(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        deadline = time.monotonic() + self._start_timeout_s
        received = b""
        while b"\n" not in received:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MockStartError(
                    self._failure(
                        "the mock server did not report listening within "
                        f"{self._start_timeout_s:g} s"
                    )
                )
            readable, _, _ = select.select([stdout], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(stdout.fileno(), 4096)
            if not chunk:
                raise MockStartError(self._failure("the mock server exited before listening"))
            received += chunk
        line = received.split(b"\n", 1)[0].decode(errors="replace").strip()
        if not line.startswith(LISTENING_PREFIX):
            raise MockStartError(self._failure(f"unexpected first line from the mock: {line!r}"))
        return line[len(LISTENING_PREFIX) :]

    def stderr_text(self) -> str:
        """What the mock wrote on stderr so far (its workers' restarts, say); "" once stopped."""
        if self._stderr is None:
            return ""
        # The child writes through the same open file: read without moving its offset.
        fd = self._stderr.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def _failure(self, what: str) -> str:
        stderr = self.stderr_text().strip()
        return f"{what}; its stderr: {stderr[-2000:]}" if stderr else what

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after the stop timeout; idempotent."""
        process, self._process = self._process, None
        self._base_url = None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(self._stop_timeout_s)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> EmbeddedMock:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
