"""The plain HTTP routes: /healthz (alive), /readyz (the database answers), /metrics."""

from __future__ import annotations

import pytest

from app.db import Database, make_engine


async def test_healthz(client):
    # when
    response = await client.get("/healthz")

    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_when_the_database_answers(client):
    # when
    response = await client.get("/readyz")

    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up"}


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:////nonexistent-directory/loyalty.db",
        "postgresql+asyncpg://postgres@127.0.0.1:1/loyalty",
    ],
    ids=["sqlite-missing-directory", "postgres-closed-port"],
)
async def test_readyz_when_the_database_is_unreachable(app_client, settings, url):
    # given
    unreachable = Database(make_engine(settings, url=url))

    # when
    try:
        async with app_client(settings, database=unreachable) as client:
            ready = await client.get("/readyz")
            alive = await client.get("/healthz")
    finally:
        await unreachable.dispose()

    # then
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "database": "down"}
    assert alive.status_code == 200


@pytest.mark.private_database  # it moves the schema's revision
@pytest.mark.parametrize(
    ("revision", "status", "body"),
    [
        ("0008", 503, {"status": "unavailable", "database": "up",
                       "schema": "behind: run `loyalty migrate`"}),
        ("9999_next_release", 200, {"status": "ok", "database": "up"}),
    ],
    ids=["behind", "newer"],
)  # fmt: skip
async def test_readyz_when_the_schema_is_not_this_versions(client, db, revision, status, body):
    # given
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{revision}'")

    # when
    response = await client.get("/readyz")

    # then
    assert (response.status_code, response.json()) == (status, body)


async def test_metrics_count_the_requests(client):
    # given
    await client.get("/healthz")
    await client.get("/healthz")
    await client.get("/readyz")
    await client.post("/graphql", json={"query": "{ program { name } }"})
    await client.post("/graphql", content=b"{", headers={"content-type": "application/json"})
    await client.get("/nowhere")

    # when
    response = await client.get("/metrics")

    # then
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    counters = [
        line for line in response.text.splitlines() if line.startswith("loyalty_http_requests_")
    ]
    assert counters == [
        'loyalty_http_requests_total{route="/graphql",method="POST",status="200"} 1',
        'loyalty_http_requests_total{route="/graphql",method="POST",status="400"} 1',
        'loyalty_http_requests_total{route="/healthz",method="GET",status="200"} 2',
        'loyalty_http_requests_total{route="/readyz",method="GET",status="200"} 1',
        'loyalty_http_requests_total{route="other",method="GET",status="404"} 1',
    ]
    assert "# TYPE loyalty_http_requests_total counter" in response.text
    assert 'loyalty_http_request_duration_seconds_count{route="/healthz"} 2' in response.text
    assert (
        'loyalty_http_request_duration_seconds_bucket{route="/healthz",le="+Inf"} 2'
        in response.text
    )


async def test_metrics_count_themselves_on_the_next_scrape(client):
    # given
    await client.get("/metrics")

    # when
    response = await client.get("/metrics")

    # then
    assert 'loyalty_http_requests_total{route="/metrics",method="GET",status="200"} 1' in (
        response.text.splitlines()
    )
