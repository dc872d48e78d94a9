"""Identifiers: time-ordered UUIDs (version 7), so new rows land at the end of their indexes."""

from __future__ import annotations

import os
import threading
import time
import uuid

_RAND_B = (1 << 62) - 1
_last = 0
_lock = threading.Lock()


def new_id() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Monotonic within the
    process (RFC 9562, 6.2, method 2): an id made in the same millisecond as the last one (or
    after the clock stepped back) is the last one plus one, so ids sort in the order they were
    made, which keyset pages and the outbox's queue rely on for rows of one moment."""
    global _last
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 68) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & _RAND_B  # rand_b, 62 bits
    with _lock:
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
