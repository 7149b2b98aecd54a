"""The fleet's ports: the shared port, and deployments pinned to workers on ports of their
own. Settings, host and worker count in; the worker serving each deployment that has a
``port``, and the sockets holding the ports, out.

The k-th deployment with a ``port`` (in the settings' order) goes to worker k mod N, so N
replicas of a model with ports of their own land on N different workers, each replica's
engine and batch in one process. The parent holds every port bound (``SO_REUSEPORT``, never
listening) for the fleet's life: ``port = 0`` names one port for good, a taken port fails
before any worker starts, and a restarted worker opens on the same ports again.
"""

from __future__ import annotations

import os
import socket

from mock_models.http.listeners import ListenerPortError
from mock_models.settings import MockSettings


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound, not listening, ``SO_REUSEPORT`` socket holding ``port`` (0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def assign(settings: MockSettings, workers: int) -> dict[str, int]:
    """The worker of each deployment with a port of its own, by name."""
    own = [d.name for d in settings.deployments if d.port is not None]
    return {name: k % workers for k, name in enumerate(own)}


def hold_pinned_ports(
    settings: MockSettings, host: str, workers: int
) -> tuple[list[socket.socket], dict[str, tuple[int, int]]]:
    """The held sockets and each pinned deployment's (port, worker); raises
    ``ListenerPortError`` naming the field of a port that cannot be had (closing the sockets
    held so far)."""
    held: list[socket.socket] = []
    pinned: dict[str, tuple[int, int]] = {}
    ports = {d.name: d.port for d in settings.deployments}
    for name, worker in assign(settings, workers).items():
        port = ports[name] or 0
        try:
            sock = reserve_port(host, port)
        except OSError as exc:
            for other in held:
                other.close()
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            raise ListenerPortError(
                f"deployments.{name}.port {port}: {why}; pick another or 0"
            ) from exc
        held.append(sock)
        pinned[name] = (int(sock.getsockname()[1]), worker)
    return held, pinned
