"""A small Prometheus registry for the HTTP layer (per process; scrape every worker)."""

from __future__ import annotations

import time
from collections import defaultdict

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self.buckets: defaultdict[str, list[int]] = defaultdict(lambda: [0] * len(BUCKETS))
        self.sums: defaultdict[str, float] = defaultdict(float)
        self.counts: defaultdict[str, int] = defaultdict(int)
        self.started = time.time()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests[(route, method, str(status))] += 1
        self.sums[route] += seconds
        self.counts[route] += 1
        buckets = self.buckets[route]
        for index, bound in enumerate(BUCKETS):
            if seconds <= bound:
                buckets[index] += 1

    def render(self) -> str:
        lines = [
            "# HELP loyalty_http_requests_total HTTP requests by route, method and status.",
            "# TYPE loyalty_http_requests_total counter",
        ]
        for (route, method, status), count in sorted(self.requests.items()):
            lines.append(
                f'loyalty_http_requests_total{{route="{route}",method="{method}",'
                f'status="{status}"}} {count}'
            )
        lines += [
            "# HELP loyalty_http_request_duration_seconds HTTP request latency by route.",
            "# TYPE loyalty_http_request_duration_seconds histogram",
        ]
        for route in sorted(self.counts):
            for bound, count in zip(BUCKETS, self.buckets[route], strict=True):
                lines.append(
                    f'loyalty_http_request_duration_seconds_bucket{{route="{route}",le="{bound}"}} {count}'
                )
            lines.append(
                f'loyalty_http_request_duration_seconds_bucket{{route="{route}",le="+Inf"}} '
                f"{self.counts[route]}"
            )
            lines.append(
                f'loyalty_http_request_duration_seconds_sum{{route="{route}"}} {self.sums[route]:.6f}'
            )
            lines.append(
                f'loyalty_http_request_duration_seconds_count{{route="{route}"}} {self.counts[route]}'
            )
        lines += [
            "# HELP loyalty_process_start_time_seconds When this process started.",
            "# TYPE loyalty_process_start_time_seconds gauge",
            f"loyalty_process_start_time_seconds {self.started:.3f}",
        ]
        return "\n".join(lines) + "\n"


KNOWN_ROUTES = ("/graphql", "/healthz", "/readyz", "/metrics")


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            path = scope["path"]
            route = path if path in KNOWN_ROUTES else "other"
            self.metrics.observe(route, scope["method"], status, time.perf_counter() - start)
