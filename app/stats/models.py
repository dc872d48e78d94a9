"""The operator's maintained totals: one row per (store, UTC day, shard), upserted in the
transaction of every movement (`service.record_movement`), so that the program's numbers are a
sum over a few thousand rows instead of a scan of the ledger.

The program as a whole has rows of its own under `ALL_STORES` (the nil UUID): a purchase writes
its store's row and the program's row in one statement. Sign-ups (`joined`) and expiry
(`expired`) belong to no store and are only in the program's rows. `shard` spreads the rows of
one busy day over a few, so that concurrent purchases do not queue on one row lock; reads sum
over the shards.

`last_buyers` and `prev_buyers` (program rows only) are a histogram of the members' accounts:
how many members' last purchase, and purchase before it, fall on that day. A purchase moves its
member from the old day to the new one (-1 there, +1 here, in its shard), in the same statement;
so "active in 30 days" is a sum over 30 days' rows, and the repeat buyers of 90 days (their
purchase before the last within 90 days) a sum over 90 days'. A row of an old day can go
negative in one shard while another holds its +1 (after `loyalty stats rebuild`): only sums mean
something.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, SmallInteger
from sqlmodel import Field, SQLModel

ALL_STORES = uuid.UUID(int=0)
SHARDS = 8


class DailyTotal(SQLModel, table=True):
    __tablename__ = "daily_totals"

    store_id: uuid.UUID = Field(primary_key=True)  # ALL_STORES: the whole program
    day: dt.date = Field(primary_key=True)  # UTC
    shard: int = Field(primary_key=True, sa_type=SmallInteger)
    joined: int = Field(default=0, sa_type=BigInteger)  # new members
    purchases: int = Field(default=0, sa_type=BigInteger)
    amount: int = Field(default=0, sa_type=BigInteger)  # money paid, less refunds, minor units
    issued: int = Field(default=0, sa_type=BigInteger)  # given (earned, bonuses), net of reversals
    redeemed: int = Field(default=0, sa_type=BigInteger)  # spent, net of points given back
    expired: int = Field(default=0, sa_type=BigInteger)
    # Members whose last purchase is on this day, and whose purchase before the last is:
    last_buyers: int = Field(default=0, sa_type=BigInteger)
    prev_buyers: int = Field(default=0, sa_type=BigInteger)
