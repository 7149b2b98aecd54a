"""Seed derivation for planning: a scenario seed and ids in, independent RNG streams and
message-text seeds out.

Every purpose (arrivals, workload choice, each session) gets its own stream so that a change
to one (say, adding a workload) does not reshuffle the others. Message seeds come from a
stable hash (never Python's ``hash()``, which is salted per process) and fit in 53 bits so
that any JSON reader, including ones that hold numbers as doubles, reads them back exactly.
"""

from __future__ import annotations

import hashlib

import numpy as np

ARRIVALS = 1
WORKLOAD_CHOICE = 2
SESSION = 3
TRACE = 4
DOCUMENTS = 5
SUBAGENTS = 6
REPEATS = 7

_SEED_BITS = 53


def _entropy(seed: int) -> tuple[int, int]:
    # SeedSequence takes non-negative entropy only; the sign goes in its own word so that
    # seed and -seed stay distinct.
    return (0, seed) if seed >= 0 else (1, -seed)


def rng_stream(seed: int, purpose: int, *ids: int) -> np.random.Generator:
    """A PCG64 generator for one purpose (and ids, e.g. a session index) of a scenario seed."""
    sequence = np.random.SeedSequence(_entropy(seed), spawn_key=(purpose, *ids))
    return np.random.Generator(np.random.PCG64(sequence))


def _hashed_seed(domain: str, parts: tuple[int, ...]) -> int:
    text = ":".join([domain, *(str(part) for part in parts)]).encode("ascii")
    digest = hashlib.blake2b(text, digest_size=8, person=b"tokenstorm-seed").digest()
    return int.from_bytes(digest, "big") >> (64 - _SEED_BITS)


def shared_message_seed(seed: int, workload_index: int, slot: int) -> int:
    """The text seed of a message every session of one workload shares (a system prompt)."""
    return _hashed_seed("shared", (seed, workload_index, slot))


def unique_message_seed(seed: int, session_index: int, turn: int, slot: int) -> int:
    """The text seed of a message only one session sends (slot = its place in the turn)."""
    return _hashed_seed("unique", (seed, session_index, turn, slot))


def branch_message_seed(
    seed: int, session_index: int, branch: tuple[int, ...], turn: int, slot: int
) -> int:
    """The text seed of a message only one sub-agent session sends (``branch``: where in
    its parent session it was spawned)."""
    return _hashed_seed("branch", (seed, session_index, *branch, -1, turn, slot))


def block_message_seed(seed: int, block_id: int) -> int:
    """The text seed of a trace's prefix block (a Mooncake hash id): equal ids, equal text."""
    return _hashed_seed("block", (seed, block_id))


def trace_message_seed(seed: int, row: int, copy: int) -> int:
    """The text seed of the new part of trace row ``row`` (``copy`` > 0: a rate-scaled copy)."""
    return _hashed_seed("trace", (seed, row, copy))
