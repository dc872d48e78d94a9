"""Identifiers: time-ordered UUIDs (version 7), so new rows land at the end of their indexes."""

from __future__ import annotations

import os
import threading
import time
import uuid

_RAND_B = (1 << 62) - 1
_last = 0
_lock = threading.Lock()
_POOL_BYTES = 4000  # 400 ids' random bits per read of the OS's generator (a syscall each)
_pool = b""
_used = _POOL_BYTES


def _forget_pool() -> None:
    """A forked child must not hand out its parent's random bits again."""
    global _pool, _used
    _pool, _used = b"", _POOL_BYTES


os.register_at_fork(after_in_child=_forget_pool)


def new_id() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Monotonic within the
    process (RFC 9562, 6.2, method 2): an id made in the same millisecond as the last one (or
    after the clock stepped back) is the last one plus one, so ids sort in the order they were
    made, which keyset pages and the outbox's queue rely on for rows of one moment."""
    global _last, _pool, _used
    with _lock:
        if _used == _POOL_BYTES:
            _pool, _used = os.urandom(_POOL_BYTES), 0
        rand = int.from_bytes(_pool[_used : _used + 10], "big")  # never handed out twice
        _used += 10
        millis = time.time_ns() // 1_000_000
        value = (millis & ((1 << 48) - 1)) << 80
        value |= 0x7 << 76  # version
        value |= ((rand >> 68) & 0xFFF) << 64  # rand_a, 12 bits
        value |= 0b10 << 62  # variant
        value |= rand & _RAND_B  # rand_b, 62 bits
        if value <= _last:
            value = _after(_last)
        _last = value
    return uuid.UUID(int=value)


def _after(value: int) -> int:
    """The next id after `value`: rand_b plus one, carrying into rand_a, then the time."""
    if value & _RAND_B != _RAND_B:
        return value + 1
    rand_a = (value >> 64) & 0xFFF
    if rand_a != 0xFFF:
        return (value & ~((0xFFF << 64) | _RAND_B)) | ((rand_a + 1) << 64)
    millis = (value >> 80) + 1
    return (millis << 80) | (0x7 << 76) | (0b10 << 62)


def parse_id(value: str) -> uuid.UUID | None:
    """The UUID in an opaque id string, or None when it is not one."""
    if not isinstance(value, str) or not value.isascii():
        return None  # uuid.UUID would read Arabic-Indic or full-width digits as hex digits
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None
