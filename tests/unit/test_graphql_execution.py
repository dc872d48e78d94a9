"""Documents are parsed and validated once per text, within a bounded cache (app.graphql.execution)."""

from __future__ import annotations

from app.graphql.schema import build_schema
from app.settings import Settings


def _operations(cache_size: int):
    operations = build_schema(Settings(_env_file=None)).operations
    operations.cache_size = cache_size
    return operations


def test_the_same_text_is_prepared_once():
    # given
    operations = _operations(4)

    # when
    first = operations.prepare("{ program { name } }")
    second = operations.prepare("{ program { name } }")

    # then
    assert first is second
    assert first.document is not None and first.errors == []


def test_refusals_are_kept_too():
    # given
    operations = _operations(4)

    # when
    syntax = operations.prepare("{ program { name }")
    invalid = operations.prepare("{ program { nope } }")

    # then
    assert syntax.document is None and "Syntax Error" in syntax.errors[0].message
    assert invalid.document is not None
    assert invalid.errors[0].message.startswith("Cannot query field 'nope' on type 'Program'.")
    assert operations.prepare("{ program { name }") is syntax


def test_the_least_recently_used_text_is_forgotten_past_the_size():
    # given: a cache of two, "a" used after "b"
    operations = _operations(2)
    a = operations.prepare("query A { program { name } }")
    b = operations.prepare("query B { program { name } }")
    operations.prepare("query A { program { name } }")

    # when
    operations.prepare("query C { program { name } }")

    # then: "b" was forgotten, "a" kept
    assert operations.prepare("query A { program { name } }") is a
    assert operations.prepare("query B { program { name } }") is not b
    assert len(operations._prepared) == 2


def test_too_many_tokens_is_a_syntax_error_before_validation():
    # given
    operations = _operations(4)
    fields = " ".join("name" for _ in range(operations.max_tokens))

    # when
    prepared = operations.prepare("{ program { " + fields + " } }")

    # then
    assert prepared.document is None
    assert "more than" in prepared.errors[0].message
