"""JSON text at the HTTP edge: orjson (a third of the json module's CPU), reading what the json
module reads and writing the same values (non-ASCII as UTF-8 rather than \\u escapes), so that
nothing a client sends or receives means something else with it."""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(data: str | bytes) -> Any:
    """orjson; what only json reads (NaN, Infinity) as json reads it, and json's error
    (`json.JSONDecodeError`, orjson's too) for what neither reads. An integer past 64 bits comes
    as a float, which no Int, ID or String argument takes either."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def dumps(data: object) -> str:
    """Compact JSON text; what orjson cannot write (an integer past 64 bits) as json writes it."""
    try:
        return orjson.dumps(data).decode()
    except TypeError:
        return json.dumps(data, separators=(",", ":"))


def dumps_bytes(data: object) -> bytes:
    """`dumps`, encoded as UTF-8: the body of an HTTP answer."""
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data, separators=(",", ":")).encode()
