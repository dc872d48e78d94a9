"""Concurrency tests: N tasks at once on the shared `db`, each on its own pooled connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event

from app.db import Database
from app.ledger.verify import verify_ledger


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


@pytest_asyncio.fixture(autouse=True)
async def ledger_verified(db: Database) -> AsyncIterator[None]:
    """After every scenario, `loyalty verify-ledger` finds nothing wrong."""
    yield
    report = await verify_ledger(db)
    assert [str(violation) for violation in report.violations] == []


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
