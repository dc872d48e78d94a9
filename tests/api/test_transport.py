"""Transport errors at /graphql: every refusal carries `extensions.code`, never a 500 and never
a plain-text body. Limits on body size, depth, aliases and tokens."""

from __future__ import annotations

import json

import pytest

from app.graphql import execution
from app.graphql.asgi import LoyaltyGraphQL
from tests.support import create_member, gql

PROGRAM_NAME = "{ program { name } }"


def single_error(response) -> dict:
    body = response.json()
    assert "data" not in body or body["data"] is None
    assert len(body["errors"]) == 1
    return body["errors"][0]


# -- body ----------------------------------------------------------------------------------------


async def test_body_over_one_mebibyte_is_refused(client, settings):
    # given: a valid document padded past the limit with a long string variable
    padding = "x" * settings.max_body_bytes
    body = json.dumps({"query": PROGRAM_NAME, "variables": {"pad": padding}}).encode()

    # when
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )

    # then
    assert response.status_code == 413
    assert single_error(response) == {
        "message": f"The request body is larger than {settings.max_body_bytes} bytes.",
        "extensions": {"code": "PAYLOAD_TOO_LARGE"},
    }


async def test_streamed_body_over_the_limit_is_refused(client, settings):
    # given: no content-length; the body arrives in chunks
    async def chunks():
        yield b'{"query": "{ program { name } }", "variables": {"pad": "'
        for _ in range(settings.max_body_bytes // 65536 + 1):
            yield b"x" * 65536
        yield b'"}}'

    # when
    response = await client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )

    # then
    assert response.status_code == 413
    assert single_error(response)["extensions"] == {"code": "PAYLOAD_TOO_LARGE"}


async def test_body_just_under_the_limit_is_served(client, settings):
    # given
    head = json.dumps({"query": PROGRAM_NAME, "variables": {"pad": ""}}).encode()
    body = head.replace(
        b'"pad": ""', b'"pad": "' + b"x" * (settings.max_body_bytes - len(head)) + b'"'
    )

    # when
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )

    # then
    assert len(body) == settings.max_body_bytes
    assert response.status_code == 200
    assert response.json() == {"data": {"program": {"name": "Loyalty"}}}


async def test_malformed_json_is_a_bad_request(client):
    # given
    bodies = {
        b'{"query": ': "The request body is not valid JSON.",
        b"": "The request body is not valid JSON.",
        b"\xff\xfe\x00": "The request body is not valid JSON.",
        b"42": "The request body must be a JSON object.",
        b'"{ program { name } }"': "The request body must be a JSON object.",
        b"null": "The request body must be a JSON object.",
    }

    # when
    answers = {}
    for body in bodies:
        response = await client.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )
        answers[body] = (response.status_code, response.json())

    # then
    assert answers == {
        body: (400, {"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]})
        for body, message in bodies.items()
    }


async def test_huge_integers_and_nan_in_json_reach_graphql_coercion(client):
    # given: an integer past 64 bits (orjson reads a float) and NaN (only json reads it)
    bodies = [
        b'{"query": "query ($n: Int!) { me { offers(first: $n) { pageInfo { hasNextPage } } } }",'
        b' "variables": {"n": 1' + b"0" * 30 + b"}}",
        b'{"query": "query ($n: Int!) { me { offers(first: $n) { pageInfo { hasNextPage } } } }",'
        b' "variables": {"n": NaN}}',
    ]

    # when
    answers = [
        await client.post("/graphql", content=body, headers={"content-type": "application/json"})
        for body in bodies
    ]

    # then: GraphQL's answer about the value, not a refusal of the JSON
    first, second = (answer.json() for answer in answers)
    assert [answer.status_code for answer in answers] == [200, 200]
    assert "non 32-bit signed integer" in first["errors"][0]["message"]
    assert first["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "Int cannot represent non-integer value: nan" in second["errors"][0]["message"]


async def test_request_strawberry_refuses_is_a_json_bad_request(client):
    # given
    payloads = [
        ({}, "No GraphQL query found in the request"),
        ({"query": 5}, "The GraphQL operation's `query` must be a string or null, if provided."),
        (
            {"query": PROGRAM_NAME, "variables": [1]},
            "The GraphQL operation's `variables` must be an object or null, if provided.",
        ),
        ({"query": PROGRAM_NAME, "operationName": "Nope"}, 'Unknown operation named "Nope".'),
    ]

    # when
    answers = []
    for payload, _ in payloads:
        response = await client.post("/graphql", json=payload)
        answers.append((response.status_code, response.headers["content-type"], response.json()))

    # then
    assert answers == [
        (
            400,
            "application/json",
            {"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]},
        )
        for _, message in payloads
    ]


async def test_unsupported_content_type_is_a_json_bad_request(client):
    # when
    answers = []
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "application/xml"]:
        response = await client.post(
            "/graphql", content=PROGRAM_NAME.encode(), headers={"content-type": content_type}
        )
        answers.append((response.status_code, response.json()))

    # then
    message = "Unsupported content type"
    refused = {"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]}
    assert answers == [(400, refused)] * 3


async def test_queries_by_get_are_refused(client):
    # when
    response = await client.get("/graphql", params={"query": PROGRAM_NAME})

    # then
    assert response.status_code == 400
    assert single_error(response) == {
        "message": "queries are not allowed when using GET",
        "extensions": {"code": "BAD_REQUEST"},
    }


async def test_graphiql_is_served_in_development(client):
    # when
    response = await client.get("/graphql", headers={"accept": "text/html"})

    # then
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>Strawberry GraphiQL</title>" in response.text


# -- documents -----------------------------------------------------------------------------------


async def test_syntax_error_is_a_bad_request(client):
    # given
    documents = [
        "{ program { name ",
        "{ program { name } } }",
        "query {",
        "}{",
        "{ program(: 1) { name } }",
    ]

    # when
    answers = {}
    for query in documents:
        answer = await gql(client, query, expect_errors=True)
        answers[query] = (
            answer["data"],
            [(e["message"][:14], e["extensions"]) for e in answer["errors"]],
        )

    # then
    parse_failed = {"code": "BAD_REQUEST", "reason": "GRAPHQL_PARSE_FAILED"}
    assert answers == dict.fromkeys(documents, (None, [("Syntax Error: ", parse_failed)]))


async def test_invalid_document_is_a_bad_request(client):
    # given
    documents = {
        "{ nope }": "Cannot query field 'nope' on type 'Query'.",
        "{ program { nam } }": "Cannot query field 'nam' on type 'Program'. Did you mean 'name'?",
        "{ program }": "Field 'program' of type 'Program!' must have a selection of subfields. "
        "Did you mean 'program { ... }'?",
        "query ($n: Int!) { program { name } }": "Variable '$n' is never used.",
        "subscription { program { name } }": "Cannot query field 'program' on type 'Subscription'.",
    }

    # when
    answers = {}
    for query in documents:
        answer = await gql(client, query, expect_errors=True)
        answers[query] = (
            answer["data"],
            [(e["message"], e["extensions"]) for e in answer["errors"]],
        )

    # then
    assert answers == {
        query: (None, [(message, {"code": "BAD_REQUEST"})]) for query, message in documents.items()
    }


async def test_missing_required_variable_is_a_bad_request(client):
    # when
    answer = await gql(
        client,
        "query ($first: Int!) { me { transactions(first: $first) { edges { cursor } } } }",
        {},
        expect_errors=True,
    )

    # then
    assert answer["data"] is None
    assert len(answer["errors"]) == 1
    assert answer["errors"][0]["message"] == (
        "Variable '$first' has invalid value: Expected a value of non-null type 'Int!' to be "
        "provided."
    )
    assert answer["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}


async def test_query_deeper_than_the_limit_is_too_complex(app_client, db, settings, clock):
    # given: outside introspection the schema has no cycle, so its deepest valid path is under
    # the default limit of 10. The top field is depth 0: this query is 4 deep, the limit 3.
    tokens, _ = await create_member(db, settings, clock)
    shallow = settings.model_copy(update={"graphql_max_depth": 3})
    deep_query = "{ me { offers(first: 1) { edges { node { id } } } } }"
    ok_query = "{ me { offers(first: 1) { edges { cursor } } } }"

    # when
    async with app_client(shallow) as client:
        too_deep = await gql(client, deep_query, token=tokens.access_token, expect_errors=True)
        just_right = await gql(client, ok_query, token=tokens.access_token)

    # then
    assert too_deep["data"] is None
    assert too_deep["errors"] == [
        {
            "message": "'anonymous' exceeds maximum operation depth of 3",
            "locations": [{"line": 1, "column": 42}],
            "extensions": {"code": "TOO_COMPLEX"},
        }
    ]
    assert just_right["data"] == {"me": {"offers": {"edges": []}}}


async def test_depth_counts_through_fragments(client, settings):
    # given: fields nested past the limit, split over named fragments
    depth = settings.graphql_max_depth + 2
    body = "a { " * depth + "b" + " }" * depth
    query = (
        "{ ...Outer } fragment Outer on Query { program { ...Inner } } "
        f"fragment Inner on Program {{ {body} }}"
    )

    # when
    answer = await gql(client, query, expect_errors=True)

    # then
    codes = sorted(error["extensions"]["code"] for error in answer["errors"])
    assert answer["data"] is None
    assert codes == ["BAD_REQUEST", "TOO_COMPLEX"]
    too_complex = [e for e in answer["errors"] if e["extensions"]["code"] == "TOO_COMPLEX"]
    assert too_complex[0]["message"] == (
        f"'anonymous' exceeds maximum operation depth of {settings.graphql_max_depth}"
    )


async def test_more_than_fifteen_aliases_is_too_complex(client, settings):
    # given
    allowed = " ".join(f"a{i}: program {{ name }}" for i in range(settings.graphql_max_aliases))
    too_many = allowed + " extra: program { name }"

    # when
    ok = await gql(client, "{ " + allowed + " }")
    refused = await gql(client, "{ " + too_many + " }", expect_errors=True)

    # then
    assert ok["data"]["a14"] == {"name": "Loyalty"}
    assert refused["data"] is None
    assert refused["errors"] == [
        {"message": "16 aliases found. Allowed: 15", "extensions": {"code": "TOO_COMPLEX"}}
    ]


async def test_more_than_two_thousand_tokens_is_too_complex(client, settings):
    # given: "{ program { ... } }" is 4 tokens and <EOF>; each "... on Program { name }" 6.
    # (Inline fragments: graphql-core's validation gives up on ~900 copies of one field.)
    def query(names: int) -> str:
        return "{ program { " + "... on Program { name } " * 330 + "name " * names + "} }"

    fits = query(settings.graphql_max_tokens - 5 - 6 * 330)
    over = query(settings.graphql_max_tokens - 4 - 6 * 330)

    # when
    ok = await gql(client, fits)
    refused = await gql(client, over, expect_errors=True)

    # then
    assert ok["data"] == {"program": {"name": "Loyalty"}}
    assert refused["data"] is None
    assert len(refused["errors"]) == 1
    assert refused["errors"][0]["message"] == (
        "Syntax Error: Document contains more than 2000 tokens. Parsing aborted."
    )
    assert refused["errors"][0]["extensions"] == {"code": "TOO_COMPLEX"}


async def test_introspection_is_open_in_development(client):
    # when
    answer = await gql(client, '{ __type(name: "StaffRole") { enumValues { name } } }')

    # then
    assert answer["data"]["__type"]["enumValues"] == [
        {"name": "CASHIER"},
        {"name": "MANAGER"},
        {"name": "ADMIN"},
    ]


@pytest.mark.private_database
async def test_unexpected_error_in_development_carries_its_message(client, db):
    # given: a table the resolver reads is gone
    await drop_table(db, "program_versions")

    # when
    answer = await gql(client, PROGRAM_NAME, expect_errors=True)

    # then
    assert answer["data"] is None
    assert len(answer["errors"]) == 1
    assert answer["errors"][0]["path"] == ["program"]
    assert answer["errors"][0]["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "program_versions" in answer["errors"][0]["message"]


async def drop_table(db, table: str) -> None:
    cascade = "" if db.is_sqlite else " CASCADE"
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql(f"DROP TABLE {table}{cascade}")


async def test_a_document_is_parsed_and_validated_once(client, monkeypatch):
    # given: graphql-core's parse and strawberry's validation, counted where the server calls them
    calls: list[str] = []

    def counted(name, real):
        def call(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(execution, "parse", counted("parse", execution.parse))
    monkeypatch.setattr(
        execution, "validate_document", counted("validate", execution.validate_document)
    )
    document = "{ program { currency pendingDays } }"
    first = await gql(client, document)

    # when
    second = await gql(client, document)
    again = await gql(client, document)

    # then
    assert first == second == again == {"data": {"program": {"currency": "USD", "pendingDays": 0}}}
    assert calls == ["parse", "validate"]


async def test_a_cached_refusal_is_answered_alike(client, settings):
    # given
    aliases = " ".join(f"a{i}: program {{ name }}" for i in range(settings.graphql_max_aliases + 1))
    document = "{ " + aliases + " nope }"

    # when
    first = await gql(client, document, expect_errors=True)
    second = await gql(client, document, expect_errors=True)

    # then
    assert first == second
    assert [e["extensions"]["code"] for e in second["errors"]] == ["TOO_COMPLEX", "BAD_REQUEST"]


async def test_a_json_post_is_answered_as_strawberrys_view_answers_it(client, monkeypatch):
    # given: requests that succeed, fail in GraphQL, and are refused before it; strawberry's view
    # counted, and the same requests sent again through it
    requests = [
        ({"query": PROGRAM_NAME}, {}),
        ({"query": "query P { program { currency } }", "operationName": "P"}, {}),
        ({"query": "{ me { firstName } }"}, {}),
        ({"query": "{ me { firstName } }"}, {"authorization": "Basic abc"}),
        ({"query": "{ me { firstName } }"}, {"authorization": "Bearer not-a-token"}),
        ({"query": "mutation { logout }"}, {}),
        ({"query": "subscription { balanceUpdated { available } }"}, {}),
        ({"query": PROGRAM_NAME, "extensions": [1]}, {}),
        ({"query": PROGRAM_NAME, "variables": "x"}, {}),
        ({"query": PROGRAM_NAME, "operationName": "Nope"}, {}),
        ({"query": None}, {}),
        ({}, {}),
    ]
    views: list[str] = []
    real_run = LoyaltyGraphQL.run

    async def counted_run(self, *args, **kwargs):
        views.append("strawberry")
        return await real_run(self, *args, **kwargs)

    monkeypatch.setattr(LoyaltyGraphQL, "run", counted_run)

    async def answers():
        found = []
        for payload, headers in requests:
            response = await client.post("/graphql", json=payload, headers=headers)
            found.append((response.status_code, response.headers["content-type"], response.json()))
        return found

    # when
    direct = await answers()
    assert views == []  # none took strawberry's view
    monkeypatch.setattr(LoyaltyGraphQL, "_streams", lambda self, scope: True)
    through_strawberry = await answers()
    assert views == ["strawberry"] * len(requests)

    views.clear()
    monkeypatch.undo()
    monkeypatch.setattr(LoyaltyGraphQL, "run", counted_run)
    streamed = await client.post(
        "/graphql", json={"query": PROGRAM_NAME}, headers={"accept": "text/event-stream"}
    )

    # then
    assert direct == through_strawberry
    assert views == []  # a stream asked for, which this server does not offer (no SSE, no
    assert streamed.json() == direct[0][2]  # multipart subscriptions): one JSON answer
    assert [status for status, _, _ in direct] == [200] * 7 + [400] * 5
    assert direct[0][2] == {"data": {"program": {"name": "Loyalty"}}}
