"""Guards: every mutation answers its expected failures inside its result union, never as a
top-level error. `tests/api/conftest.py` checks every mutation response of the API tests; these
tests check the schema's shape and that the check itself bites."""

from __future__ import annotations

import json

import pytest
from graphql import GraphQLNonNull, GraphQLUnionType

from app.graphql.errors import user_errors
from app.graphql.schema import build_schema
from app.settings import Settings
from tests.api.conftest import mutation_errors_beyond_transport
from tests.support import PASSWORD, gql

SCHEMA = build_schema(Settings())
MUTATIONS = sorted(SCHEMA._schema.mutation_type.fields)
RESOLVERS = {
    SCHEMA.config.name_converter.get_graphql_name(field): field.base_resolver
    for field in SCHEMA.get_type_by_name("Mutation").fields
}


async def _noop() -> None:
    return None


WRAPPER_CODE = user_errors(_noop).__code__  # every resolver under @user_errors runs this code


@pytest.mark.parametrize("name", MUTATIONS)
def test_every_mutation_returns_a_union_with_user_errors(name):
    # given
    field = SCHEMA._schema.mutation_type.fields[name]

    # when
    result = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type

    # then
    assert isinstance(field.type, GraphQLNonNull)
    assert isinstance(result, GraphQLUnionType)
    errors = [t for t in result.types if any(i.name == "UserError" for i in t.interfaces)]
    assert errors, f"{result.name} has no UserError member"


@pytest.mark.parametrize("name", MUTATIONS)
def test_every_mutation_resolver_turns_domain_errors_into_user_errors(name):
    # when
    resolver = RESOLVERS[name].wrapped_func

    # then
    assert resolver.__code__ is WRAPPER_CODE, f"{name} is not decorated with @user_errors"


def test_guard_flags_a_domain_error_escaping_a_mutation():
    # given
    request = json.dumps({"query": 'mutation { logout(refreshToken: "x") { __typename } }'})
    escaped = {"message": "boom", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
    refused = {"message": "no", "extensions": {"code": "FORBIDDEN"}}
    response = json.dumps({"data": None, "errors": [refused, escaped]})

    # when
    flagged = mutation_errors_beyond_transport(request.encode(), response.encode())

    # then
    assert flagged == [escaped]


def test_guard_ignores_queries():
    # given
    request = json.dumps({"query": "{ program { name } }"})
    response = json.dumps({"errors": [{"message": "boom", "extensions": {}}]})

    # when
    flagged = mutation_errors_beyond_transport(request.encode(), response.encode())

    # then
    assert flagged == []


async def test_failed_mutations_answer_inside_their_union(client):
    # given: one failure of each kind the member-facing mutations without a token can give
    calls = [
        (
            'mutation { loginMember(email: "a@example.com", password: "x") '
            "{ __typename ... on UserError { code } } }",
            "loginMember",
            "AuthenticationError",
        ),
        (
            'mutation { loginStaff(email: "not an email", password: "x") '
            "{ __typename ... on UserError { code } } }",
            "loginStaff",
            "AuthenticationError",
        ),
        (
            'mutation { refreshSession(refreshToken: "rt_x") '
            "{ __typename ... on UserError { code } } }",
            "refreshSession",
            "AuthenticationError",
        ),
        (
            'mutation { registerMember(input: {email: "x", password: "' + PASSWORD + '", '
            'firstName: "A"}) { __typename ... on UserError { code } } }',
            "registerMember",
            "InvalidInputError",
        ),
    ]

    # when
    answers = [await gql(client, query) for query, _, _ in calls]

    # then
    assert [
        a["data"][field]["__typename"] for a, (_, field, _) in zip(answers, calls, strict=True)
    ] == [typename for _, _, typename in calls]
