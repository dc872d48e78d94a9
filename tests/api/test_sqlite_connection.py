"""One request may read and then write: the read session never holds the connection a later
mutation needs (SQLite has a single connection per process)."""

from __future__ import annotations

import asyncio

from tests.support import PASSWORD, gql


async def test_mutations_after_reads_in_one_document_complete(client):
    # given: a document whose first mutation's result reads (AuthSession.member), then a write
    document = (
        """
    mutation {
      first: registerMember(input: {email: "a@example.com", password: "PASSWORD", firstName: "A"}) {
        ... on AuthSession { member { id balance { available } } }
      }
      second: registerMember(input: {email: "b@example.com", password: "PASSWORD", firstName: "B"}) {
        ... on AuthSession { member { id } }
      }
    }
    """
    ).replace("PASSWORD", PASSWORD)

    # when
    body = await asyncio.wait_for(gql(client, document), timeout=60)

    # then
    assert body["data"]["first"]["member"]["id"] != body["data"]["second"]["member"]["id"]
