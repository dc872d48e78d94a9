"""Concurrency tests: N tasks at once on the shared `db`, each on its own pooled connection."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from app.db import Database


class PeakConnections:
    """The most connections the pool had handed out at one time."""

    def __init__(self) -> None:
        self.current = 0
        self.peak = 0

    def checkout(self, *_: Any) -> None:
        self.current += 1
        self.peak = max(self.peak, self.current)

    def checkin(self, *_: Any) -> None:
        self.current -= 1


@pytest.fixture
def connections(db: Database) -> PeakConnections:
    peak = PeakConnections()
    event.listen(db.engine.sync_engine, "checkout", peak.checkout)
    event.listen(db.engine.sync_engine, "checkin", peak.checkin)
    return peak


def assert_ran_concurrently(db: Database, connections: PeakConnections) -> None:
    """On PostgreSQL the tasks overlapped on several connections; SQLite has one writer."""
    if db.is_sqlite:
        assert connections.peak == 1
    else:
        assert connections.peak > 1
