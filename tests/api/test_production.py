"""In production: no introspection, no GraphiQL, unexpected errors masked; and the app refuses
to start on development secrets."""

from __future__ import annotations

import jwt
import pytest

from app.graphql.extensions import MASKED_MESSAGE
from app.main import create_app
from app.settings import ConfigurationError
from tests.conftest import make_settings
from tests.support import PASSWORD, gql, run_operation


@pytest.fixture
def production(settings):
    return make_settings(
        settings.database_url,
        env="production",
        jwt_keys={"prod-1": "p" * 40},
        jwt_active_kid="prod-1",
        member_code_secret="m" * 40,
        public_base_url="https://loyalty.example.com",
        apple_pass_type_id="pass.com.example.loyalty",
        apple_team_id="ABCDE12345",
        apple_pass_cert=__file__,  # any readable file: production checks that much at start
        apple_pass_key=__file__,
        apple_wwdr_cert=__file__,
    )


async def drop_table(db, table: str) -> None:
    cascade = "" if db.is_sqlite else " CASCADE"
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql(f"DROP TABLE {table}{cascade}")


def test_refuses_to_start_on_development_secrets(settings):
    # given
    unsafe = make_settings(settings.database_url, env="production")

    # when
    with pytest.raises(ConfigurationError) as refused:
        create_app(unsafe)

    # then
    assert str(refused.value) == (
        "refusing to start in production: "
        "LOYALTY_JWT_KEYS['dev-1'] is the development default secret; "
        "LOYALTY_MEMBER_CODE_SECRET is the development default secret; "
        "PUBLIC_BASE_URL must be an https:// address in production; "
        "APPLE_PASS_TYPE_ID is not set (Apple Wallet passes need it); "
        "APPLE_TEAM_ID is not set (Apple Wallet passes need it); "
        "APPLE_PASS_CERT is not set (Apple Wallet passes need it); "
        "APPLE_PASS_KEY is not set (Apple Wallet passes need it); "
        "APPLE_WWDR_CERT is not set (Apple Wallet passes need it)"
    )


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("{ __schema { types { name } } }", ["__schema", "types"]),
        ('{ __type(name: "Member") { name } }', ["__type"]),
        ("{ program { name } __schema { queryType { name } } }", ["__schema", "queryType"]),
    ],
)
async def test_introspection_is_refused(app_client, production, query, fields):
    # when
    async with app_client(production) as client:
        answer = await gql(client, query, expect_errors=True)

    # then
    assert answer["data"] is None
    assert [error["message"] for error in answer["errors"]] == [
        "GraphQL introspection has been disabled, but the requested query contained the field "
        f"'{field}'."
        for field in fields
    ]
    assert {error["extensions"]["code"] for error in answer["errors"]} == {"BAD_REQUEST"}


async def test_typename_is_not_introspection(app_client, production):
    # when
    async with app_client(production) as client:
        answer = await gql(client, "{ __typename program { __typename } }")

    # then
    assert answer["data"] == {"__typename": "Query", "program": {"__typename": "Program"}}


async def test_graphiql_is_not_served(app_client, production):
    # when
    async with app_client(production) as client:
        response = await client.get("/graphql", headers={"accept": "text/html"})

    # then
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "errors": [{"message": "Not Found", "extensions": {"code": "NOT_FOUND"}}]
    }


@pytest.mark.private_database
async def test_unexpected_error_is_masked(app_client, production, db):
    # given: a table the resolver reads is gone
    await drop_table(db, "program_versions")

    # when
    async with app_client(production) as client:
        response = await client.post("/graphql", json={"query": "{ program { name } }"})

    # then
    assert response.status_code == 200
    assert response.json() == {
        "data": None,
        "errors": [
            {
                "message": MASKED_MESSAGE,
                "locations": [{"line": 1, "column": 3}],
                "path": ["program"],
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }
        ],
    }
    assert MASKED_MESSAGE == "Something went wrong on our side. It has been logged."


@pytest.mark.private_database
async def test_unexpected_error_in_a_mutation_is_masked(app_client, production, db, mutation_guard):
    # given
    await drop_table(db, "login_failures")
    mutation_guard.allow_internal_errors()

    # when
    async with app_client(production) as client:
        answer = await run_operation(
            client,
            "LoginMember",
            {"email": "ann@example.com", "password": PASSWORD},
            expect_errors=True,
        )

    # then
    assert answer["data"] is None
    assert answer["errors"] == [
        {
            "message": MASKED_MESSAGE,
            "locations": [{"line": 2, "column": 3}],
            "path": ["loginMember"],
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        }
    ]


async def test_expected_errors_keep_their_message(app_client, production):
    # when
    async with app_client(production) as client:
        syntax = await gql(client, "{ program { name ", expect_errors=True)
        anonymous = await gql(client, "{ me { email } }", expect_errors=True)

    # then
    assert syntax["errors"][0]["message"] == "Syntax Error: Expected Name, found <EOF>."
    assert syntax["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert anonymous["errors"][0]["message"] == (
        "Sign in first: send `Authorization: Bearer <accessToken>`."
    )
    assert anonymous["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}


async def test_members_sign_up_with_the_production_key(app_client, production):
    # when
    async with app_client(production) as client:
        registered = await run_operation(
            client,
            "RegisterMember",
            {"input": {"email": "ann@example.com", "password": PASSWORD, "firstName": "Ann"}},
        )
        token = registered["data"]["registerMember"]["accessToken"]
        home = await run_operation(client, "MemberHome", token=token)

    # then
    assert jwt.get_unverified_header(token)["kid"] == "prod-1"
    assert home["data"]["me"]["firstName"] == "Ann"
