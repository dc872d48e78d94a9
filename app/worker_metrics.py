"""`loyalty worker --metrics-port`: what the worker did, as Prometheus text on GET /metrics.

A counter of each delivery outcome and of the events fanned out (the outbox), and of each
scheduled job's runs, items and points, with the time of the last round that finished without
an error. A tiny HTTP/1.1 server on asyncio streams: one request a connection, then it closes.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from app.jobs import JobReport
from app.outbox.worker import Stats


@dataclass
class JobCounts:
    runs: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    items: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    points: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    failed_rounds: int = 0
    last_round_ok: float | None = None  # Unix time

    def round_done(self, reports: list[JobReport]) -> None:
        for report in reports:
            self.runs[report.name] += 1
            self.items[report.name] += report.members
            self.points[report.name] += report.points
        self.last_round_ok = time.time()


def render(outbox: Stats | None, jobs: JobCounts | None, *, started: float) -> str:
    lines: list[str] = []

    def metric(name: str, kind: str, help: str, samples: list[tuple[str, float]]) -> None:
        lines.extend((f"# HELP {name} {help}", f"# TYPE {name} {kind}"))
        lines.extend(f"{name}{labels} {value:g}" for labels, value in samples)

    if outbox is not None:
        outcomes = {
            "delivered": outbox.delivered, "retried": outbox.retried, "dead": outbox.dead,
            "gone": outbox.gone,
        }  # fmt: skip
        metric(
            "loyalty_outbox_deliveries_total", "counter",
            "Delivery attempts by outcome (retried: failed, due again).",
            [(f'{{outcome="{outcome}"}}', count) for outcome, count in outcomes.items()],
        )  # fmt: skip
        metric(
            "loyalty_outbox_events_fanned_out_total", "counter",
            "Events turned into deliveries.", [("", outbox.fanned_out)],
        )  # fmt: skip
    if jobs is not None:
        for name, help, values in (
            ("loyalty_job_runs_total", "Scheduled job runs.", jobs.runs),
            ("loyalty_job_items_total", "What each job changed (members, notices, events).",
             jobs.items),
            ("loyalty_job_points_total", "Points each job moved.", jobs.points),
        ):  # fmt: skip
            metric(
                name,
                "counter",
                help,
                [(f'{{job="{job}"}}', v) for job, v in sorted(values.items())],
            )
        metric(
            "loyalty_job_failed_rounds_total", "counter",
            "Rounds of the jobs that raised (logged; retried next round).",
            [("", jobs.failed_rounds)],
        )  # fmt: skip
        if jobs.last_round_ok is not None:
            metric(
                "loyalty_job_last_success_timestamp_seconds", "gauge",
                "When a round of every job last finished.", [("", jobs.last_round_ok)],
            )  # fmt: skip
    metric(
        "loyalty_process_start_time_seconds", "gauge", "When this process started.",
        [("", started)],
    )  # fmt: skip
    return "\n".join(lines) + "\n"


async def serve(host: str, port: int, body: Callable[[], str]) -> asyncio.Server:
    """Answer GET /metrics with `body()`; anything else with 404."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            method, _, rest = head.partition(b" ")
            path = rest.split(b" ", 1)[0]
            if method == b"GET" and path.split(b"?", 1)[0] == b"/metrics":
                status, payload = "200 OK", body().encode()
                kind = "text/plain; version=0.0.4; charset=utf-8"
            else:
                status, payload, kind = "404 Not Found", b"not found\n", "text/plain"
            writer.write(
                f"HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {len(payload)}\r\n"
                "connection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a client that sends nothing sensible gets nothing
        finally:
            writer.close()

    return await asyncio.start_server(answer, host, port)
