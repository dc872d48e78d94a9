"""Keyset pagination: an opaque cursor over a (timestamp, id) key, newest first by default."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_PAGE_SIZE = 100


class InvalidCursor(ValueError):
    pass


class InvalidPageSize(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    cursors: Sequence[str]
    has_next: bool

    @property
    def end_cursor(self) -> str | None:
        return self.cursors[-1] if self.cursors else None


def encode_cursor(at: dt.datetime, id_: uuid.UUID) -> str:
    raw = json.dumps([at.isoformat(), str(id_)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, id_ = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(at, str) or not isinstance(id_, str) or not id_.isascii():
            raise TypeError("not a [timestamp, id] pair of strings")
        moment = dt.datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment, uuid.UUID(id_)
    except (ValueError, TypeError, binascii.Error, RecursionError) as exc:
        raise InvalidCursor("The cursor is not one this API returned.") from exc


def check_first(first: int) -> int:
    if first < 1 or first > MAX_PAGE_SIZE:
        raise InvalidPageSize(f"`first` must be between 1 and {MAX_PAGE_SIZE}.")
    return first
