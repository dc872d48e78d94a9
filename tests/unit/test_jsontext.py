"""JSON at the HTTP edge reads and writes what the json module does (app.kit.jsontext)."""

from __future__ import annotations

import json
import math

import pytest

from app.kit import jsontext


def test_text_is_compact_and_keeps_unicode_readable():
    # when
    text = jsontext.dumps({"data": {"name": "Łódź ☕", "points": 12}})

    # then
    assert text == '{"data":{"name":"Łódź ☕","points":12}}'
    assert json.loads(text) == {"data": {"name": "Łódź ☕", "points": 12}}


def test_what_orjson_cannot_write_is_written_as_json_writes_it():
    # when
    text = jsontext.dumps({"n": 2**70})

    # then
    assert text == '{"n":1180591620717411303424}'


def test_what_only_json_reads_is_read_as_json_reads_it():
    # when
    value = jsontext.loads(b'{"n": NaN, "m": Infinity}')

    # then
    assert math.isnan(value["n"]) and value["m"] == math.inf


def test_what_neither_reads_raises_jsons_error():
    with pytest.raises(json.JSONDecodeError):
        jsontext.loads(b'{"query": ')
