"""Core pinning shared by the benchmarks: the mock on one core, the measuring process on the
others, so the two never share a core and their CPU figures stay apart."""

from __future__ import annotations

import os


def pin_apart(mock_pid: int) -> tuple[int, list[int]]:
    """Pin the mock to the first core and this process to the rest (all of them when there is
    only one); return (the mock's core, this process's cores)."""
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(mock_pid, {cores[0]})
    client_cores = cores[1:] or cores
    os.sched_setaffinity(0, set(client_cores))
    return cores[0], client_cores
