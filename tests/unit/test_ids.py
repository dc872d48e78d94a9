from __future__ import annotations

import time
import uuid

import pytest

from app.kit import ids


def _millis(value: uuid.UUID) -> int:
    return value.int >> 80


def _next_millisecond() -> None:
    start = time.time_ns() // 1_000_000
    while time.time_ns() // 1_000_000 == start:
        time.sleep(0.0002)


def test_new_id_is_a_version_7_rfc_9562_uuid() -> None:
    # when
    value = ids.new_id()

    # then
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert (value.int >> 76) & 0xF == 7
    assert (value.int >> 62) & 0b11 == 0b10


def test_new_id_starts_with_the_unix_milliseconds() -> None:
    # given
    before = time.time_ns() // 1_000_000

    # when
    value = ids.new_id()

    # then
    after = time.time_ns() // 1_000_000
    assert before <= _millis(value) <= after


def test_ids_made_a_millisecond_apart_sort_in_creation_order() -> None:
    # given
    made = []
    for _ in range(5):
        made.append(ids.new_id())
        _next_millisecond()

    # when
    ordered = sorted(made)

    # then
    assert ordered == made
    assert sorted(str(value) for value in made) == [str(value) for value in made]


def test_new_ids_are_unique() -> None:
    # when
    values = {ids.new_id() for _ in range(10_000)}

    # then
    assert len(values) == 10_000


def test_parse_id_reads_an_id_string() -> None:
    # given
    value = ids.new_id()

    # when
    parsed = [ids.parse_id(str(value)), ids.parse_id(str(value).upper()), ids.parse_id(value.hex)]

    # then
    assert parsed == [value, value, value]


@pytest.mark.parametrize("raw", ["", "nope", "0197a1b2-3c4d-7e5f-8a6b", chr(0x660) * 32, None, 42])
def test_parse_id_of_anything_else_is_none(raw: object) -> None:
    # when
    parsed = ids.parse_id(raw)  # type: ignore[arg-type]

    # then
    assert parsed is None
