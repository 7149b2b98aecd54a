"""The parent of a mock fleet: settings, address and worker count in; N worker processes
sharing one port (and serving the deployments pinned to them on theirs), each restarted when
it dies, all stopped on SIGTERM or SIGINT, out.

The parent binds the ports first (``fleet.pinning``) so ``port 0`` names one port for all
and a taken port fails before any worker starts. Workers run in their own
session (a terminal's Ctrl-C reaches the parent only, which stops them in order) and get
SIGTERM from Linux should the parent die without doing so.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import orjson

from harness.contract.records import to_json_line
from mock_models.fleet import folder
from mock_models.fleet.journal import journal_path, left_open
from mock_models.fleet.merge import merged_lines
from mock_models.fleet.pinning import hold_pinned_ports, reserve_port
from mock_models.fleet.worker import WORKER_LISTENING, WORKER_LOADED
from mock_models.settings import MockSettings

START_TIMEOUT_S: Final = 15.0
STOP_TIMEOUT_S: Final = 5.0
#: A worker that dies sooner than this after starting is restarted after a growing pause.
_QUICK_DEATH_S: Final = 1.0
_PR_SET_PDEATHSIG: Final = 1


_FOLDER_PREFIX: Final = "tokenstorm-mock-fleet-"


def _remove_orphaned_folders() -> None:
    """Remove the run folders of fleets whose parent was killed before it could."""
    for found in Path(tempfile.gettempdir()).glob(f"{_FOLDER_PREFIX}*-*"):
        pid = found.name.removeprefix(_FOLDER_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(found, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkerStartError(RuntimeError):
    """A worker did not come up at start; the message says which and why."""


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class _Worker:
    __slots__ = ("index", "journal_from", "ledger_from", "process", "restarts", "started_s")

    def __init__(self, index: int) -> None:
        self.index = index
        self.restarts = 0
        self.process: asyncio.subprocess.Process | None = None
        self.started_s = 0.0
        #: Where this life's lines start in its journal and ledger files.
        self.journal_from = self.ledger_from = 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read()
    except FileNotFoundError:
        return b""


class Fleet:
    """N workers of ``settings`` on ``host:port``, sharing the run folder ``run_folder``."""

    def __init__(
        self,
        settings: MockSettings,
        host: str,
        port: int,
        workers: int,
        run_folder: Path,
        pinned: dict[str, tuple[int, int]] | None = None,
    ) -> None:
        self._epoch_s = time.monotonic()
        #: Per worker, the deployments pinned to it and their ports.
        self._own: dict[int, dict[str, int]] = {index: {} for index in range(workers)}
        for name, (own_port, index) in (pinned or {}).items():
            self._own[index][name] = own_port
        folder.write_pinned(run_folder, pinned or {})
        self._command = [
            sys.executable,
            "-m",
            "mock_models.fleet.worker",
            "--host",
            host,
            "--port",
            str(port),
            "--config-json",
            settings.model_dump_json(),
            "--workers",
            str(workers),
            "--folder",
            str(run_folder),
        ]
        self._workers = [_Worker(index) for index in range(workers)]
        self.run_folder = run_folder

    def _record_left_open(self, worker: _Worker) -> int:
        """Append to a dead worker's ledger file a ``reset`` line for each attempt its life
        left open (``journal.left_open``); returns how many. The worker is gone and its
        successor not started: nobody else writes the file meanwhile."""
        died_s = time.monotonic() - self._epoch_s
        ledger = folder.ledger_path(self.run_folder, worker.index)
        folder.end_last_line(ledger)
        entries = left_open(
            _read_from(journal_path(self.run_folder, worker.index), worker.journal_from),
            _read_from(ledger, worker.ledger_from),
            died_s,
        )
        if entries:
            with ledger.open("ab") as handle:
                handle.write(b"".join(map(to_json_line, entries)))
        return len(entries)

    async def _spawn(self, worker: _Worker) -> asyncio.subprocess.Process:
        """Start a worker's process and wait until it has loaded (its imports done)."""
        for path in (
            folder.ledger_path(self.run_folder, worker.index),
            journal_path(self.run_folder, worker.index),
        ):
            folder.end_last_line(path)
        worker.ledger_from = _size(folder.ledger_path(self.run_folder, worker.index))
        worker.journal_from = _size(journal_path(self.run_folder, worker.index))
        command = [*self._command, "--index", str(worker.index)]
        command += ["--restarts", str(worker.restarts)]
        command += ["--own-json", orjson.dumps(self._own[worker.index]).decode()]
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        worker.process, worker.started_s = process, time.monotonic()
        await self._expect(worker, process, WORKER_LOADED)
        return process

    async def _go(self, worker: _Worker, process: asyncio.subprocess.Process) -> None:
        """Give a loaded worker the fleet's start and wait until it listens."""
        assert process.stdin is not None
        with contextlib.suppress(ConnectionError):
            process.stdin.write(f"{self._epoch_s!r}\n".encode())
            await process.stdin.drain()
            process.stdin.close()
        await self._expect(worker, process, WORKER_LISTENING)

    @staticmethod
    async def _expect(worker: _Worker, process: asyncio.subprocess.Process, prefix: str) -> None:
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            line = b""
        if not line.startswith(prefix.encode()):
            raise WorkerStartError(
                f"worker {worker.index} did not start (exit code {process.returncode}); "
                "see its stderr above"
            )

    async def _start(self, worker: _Worker) -> None:
        """(Re)start one worker of a running fleet."""
        await self._go(worker, await self._spawn(worker))

    async def start(self) -> None:
        """Start every worker and wait until each listens; raises ``WorkerStartError``. The
        fleet's start (its clock's zero, as a single mock's is its start) is when all have
        loaded, just before they listen: fault windows before any run, ``startup_s`` and
        ``received_s`` count from there, on every worker and every restart."""
        processes = await asyncio.gather(*(self._spawn(worker) for worker in self._workers))
        self._epoch_s = time.monotonic()
        await asyncio.gather(*map(self._go, self._workers, processes))

    async def supervise(self, stop: asyncio.Event) -> None:
        """Restart workers as they die, until ``stop`` is set."""
        stopping = asyncio.create_task(stop.wait())
        waits = {asyncio.create_task(w.process.wait()): w for w in self._workers if w.process}
        pauses_s = {w.index: 0.1 for w in self._workers}
        while not stop.is_set():
            done, _ = await asyncio.wait({stopping, *waits}, return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopping}:
                worker = waits.pop(task)
                if stop.is_set():
                    continue
                lived_s = time.monotonic() - worker.started_s
                worker.restarts += 1
                left = await asyncio.to_thread(self._record_left_open, worker)
                print(
                    f"tokenstorm-mock: worker {worker.index} (pid "
                    f"{worker.process.pid if worker.process else '?'}) exited with code "
                    f"{task.result()}; {_left_words(left)}; restarting it "
                    f"(restart {worker.restarts})",
                    file=sys.stderr,
                    flush=True,
                )
                if lived_s < _QUICK_DEATH_S:
                    await asyncio.sleep(pauses_s[worker.index])
                    pauses_s[worker.index] = min(2.0, pauses_s[worker.index] * 2)
                else:
                    pauses_s[worker.index] = 0.1
                try:
                    await self._start(worker)
                except WorkerStartError as exc:
                    print(f"tokenstorm-mock: {exc}", file=sys.stderr, flush=True)
                if worker.process is not None:
                    waits[asyncio.create_task(worker.process.wait())] = worker
        stopping.cancel()
        for task in waits:
            task.cancel()

    async def stop(self) -> None:
        """SIGTERM every worker, SIGKILL those still there after ``STOP_TIMEOUT_S``."""
        processes = [w.process for w in self._workers if w.process is not None]
        for process in processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        for worker in self._workers:  # those killed had attempts open, maybe
            if worker.process is not None and (left := self._record_left_open(worker)):
                print(
                    f"tokenstorm-mock: worker {worker.index} stopped with {_left_words(left)}",
                    file=sys.stderr,
                    flush=True,
                )


def _left_words(left: int) -> str:
    if left == 0:
        return "no attempt was open on it"
    return f"{left} attempt{'s' if left != 1 else ''} open on it recorded in the ledger as reset"


async def run_fleet(
    settings: MockSettings,
    host: str,
    port: int,
    workers: int,
    ledger_file: Path | None,
    announce: Callable[[int, dict[str, tuple[int, int]]], None],
) -> None:
    """Serve ``workers`` workers until SIGTERM or SIGINT; ``announce`` gets the bound port
    and each pinned deployment's (port, worker). Raises ``OSError`` when a port cannot be
    had (``ListenerPortError`` for a deployment's), ``WorkerStartError`` when a worker fails."""
    reserved = reserve_port(host, port)
    try:
        held, pinned = hold_pinned_ports(settings, host, workers)
    except OSError:
        reserved.close()
        raise
    _remove_orphaned_folders()
    run_folder = Path(tempfile.mkdtemp(prefix=f"{_FOLDER_PREFIX}{os.getpid()}-"))
    fleet = Fleet(settings, host, int(reserved.getsockname()[1]), workers, run_folder, pinned)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await fleet.start()
        announce(int(reserved.getsockname()[1]), pinned)
        await fleet.supervise(stop)
    finally:
        await fleet.stop()
        reserved.close()
        for sock in held:
            sock.close()
        if ledger_file is not None:
            with ledger_file.open("ab") as handle:
                handle.writelines(merged_lines(folder.ledger_paths(run_folder), {}))
        shutil.rmtree(run_folder, ignore_errors=True)
