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


def test_ids_made_in_one_millisecond_sort_in_creation_order() -> None:
    # when: many ids, most of them sharing a millisecond with the one before
    made = [ids.new_id() for _ in range(2_000)]

    # then
    assert len({_millis(value) for value in made}) < len(made)
    assert sorted(made) == made
    assert all(value.version == 7 and value.variant == uuid.RFC_4122 for value in made)


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        # rand_b plus one
        (0x01A2_0928_BBE8_7EDA_83E9_011A_1B7F_B253, 0x01A2_0928_BBE8_7EDA_83E9_011A_1B7F_B254),
        # rand_b full: carry into rand_a, rand_b from zero
        (0x01A2_0928_BBE8_7EDA_BFFF_FFFF_FFFF_FFFF, 0x01A2_0928_BBE8_7EDB_8000_0000_0000_0000),
        # both full: the next millisecond
        (0x01A2_0928_BBE8_7FFF_BFFF_FFFF_FFFF_FFFF, 0x01A2_0928_BBE9_7000_8000_0000_0000_0000),
    ],
)
def test_the_id_after_carries_and_keeps_version_and_variant(last: int, expected: int) -> None:
    # when
    after = ids._after(last)

    # then
    assert hex(after) == hex(expected)
    assert uuid.UUID(int=after).version == 7


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


def test_ids_made_past_the_random_pool_stay_distinct_and_ordered() -> None:
    # given: more ids than one read of the OS's generator serves
    count = 3 * ids._POOL_BYTES // 10 + 7

    # when
    made = [ids.new_id() for _ in range(count)]

    # then
    assert len(set(made)) == count
    assert made == sorted(made)


def test_a_forked_child_draws_its_own_random_bits() -> None:
    # given: the pool is partly used
    ids.new_id()
    used = ids._pool

    # when: what a fork runs in the child
    ids._forget_pool()
    ids.new_id()

    # then
    assert ids._pool != used
