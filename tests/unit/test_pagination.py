from __future__ import annotations

import base64
import datetime as dt
import uuid

import pytest

from app.kit import pagination
from app.kit.pagination import InvalidCursor, InvalidPageSize, Page

AT = dt.datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
ID = uuid.UUID("0197a1b2-3c4d-7e5f-8a6b-7c8d9e0f1a2b")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_cursor_round_trips() -> None:
    # given
    cursor = pagination.encode_cursor(AT, ID)

    # when
    decoded = pagination.decode_cursor(cursor)

    # then
    assert decoded == (AT, ID)


def test_cursor_is_unpadded_url_safe_base64_of_a_json_pair() -> None:
    # when
    cursor = pagination.encode_cursor(AT, ID)

    # then
    assert "=" not in cursor
    assert base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)) == (
        b'["2026-06-01T12:00:00.123456+00:00","0197a1b2-3c4d-7e5f-8a6b-7c8d9e0f1a2b"]'
    )


def test_cursor_keeps_a_non_utc_offset() -> None:
    # given
    at = dt.datetime(2026, 6, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))

    # when
    decoded_at, _ = pagination.decode_cursor(pagination.encode_cursor(at, ID))

    # then
    assert decoded_at == dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
    assert decoded_at.utcoffset() == dt.timedelta(hours=2)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage!",
        "@@@@",
        "é",
        "🙂🙂🙂🙂",
        "YQ",  # base64 of "a"
        _b64(b"not json"),
        _b64(b"\xff\xfe\xfd"),
        _b64(b"[]"),
        _b64(b"{}"),
        _b64(b"null"),
        _b64(b"42"),
        _b64(b'"ab"'),
        _b64(b'{"a": 1, "b": 2}'),
        _b64(b'["2026-06-01T12:00:00+00:00"]'),
        _b64(b'["2026-06-01T12:00:00+00:00", "0197a1b2-3c4d-7e5f-8a6b-7c8d9e0f1a2b", 3]'),
        _b64(b'["2026-06-01T12:00:00", "0197a1b2-3c4d-7e5f-8a6b-7c8d9e0f1a2b"]'),  # naive
        _b64(b'["yesterday", "0197a1b2-3c4d-7e5f-8a6b-7c8d9e0f1a2b"]'),
        _b64(b'["2026-06-01T12:00:00+00:00", "not-a-uuid"]'),
        _b64(b'["2026-06-01T12:00:00+00:00", 5]'),
        _b64(b'["2026-06-01T12:00:00+00:00", ["0197a1b2-3c4d-7e5f-8a6b-7c8d9e0f1a2b"]]'),
        _b64(b'["2026-06-01T12:00:00+00:00", null]'),
        _b64(b'[1780315200, "0197a1b2-3c4d-7e5f-8a6b-7c8d9e0f1a2b"]'),
        _b64('["2026-06-01T12:00:00+00:00", "0197a1b2-3c4d-7e5f-8a6b-7c8d9e0f1a2\u0663"]'.encode()),
        _b64(b"[" * 100_000 + b"]" * 100_000),
    ],
)
def test_refuses_a_cursor_it_did_not_make(cursor: str) -> None:
    # when
    with pytest.raises(InvalidCursor) as raised:
        pagination.decode_cursor(cursor)

    # then
    assert str(raised.value) == "The cursor is not one this API returned."


@pytest.mark.parametrize("first", [1, 20, 100])
def test_check_first_accepts_one_to_a_hundred(first: int) -> None:
    # when
    checked = pagination.check_first(first)

    # then
    assert checked == first


@pytest.mark.parametrize("first", [0, -1, 101, 10**9])
def test_check_first_refuses_out_of_bounds(first: int) -> None:
    # when
    with pytest.raises(InvalidPageSize) as raised:
        pagination.check_first(first)

    # then
    assert str(raised.value) == "`first` must be between 1 and 100."


def test_page_end_cursor_is_the_last_items_cursor() -> None:
    # given
    page = Page(items=["a", "b"], cursors=["c1", "c2"], has_next=True)

    # when
    end = page.end_cursor

    # then
    assert end == "c2"


def test_empty_page_has_no_end_cursor() -> None:
    # given
    page: Page[str] = Page(items=[], cursors=[], has_next=False)

    # when
    end = page.end_cursor

    # then
    assert end is None
