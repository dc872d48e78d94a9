"""Helpers of run.sh: the request body, waiting for the server, one request per member.

client.py body BODY_FILE              write MemberHome's JSON request body
client.py wait PORT                   wait up to 30 s for /healthz
client.py pass PORT TOKENS BODY_FILE  one MemberHome per token, one at a time; fail on any
                                      error; print the latency of this "first view"
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

OPERATIONS = Path(__file__).resolve().parent.parent.parent / "schema" / "operations"


def write_body(path: str) -> None:
    """MemberHome exactly as the mobile app sends it, taken from schema/operations."""
    from graphql import OperationDefinitionNode, parse, print_ast

    document = parse((OPERATIONS / "member.graphql").read_text())
    (home,) = [
        d
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode) and d.name and d.name.value == "MemberHome"
    ]
    Path(path).write_text(json.dumps({"query": print_ast(home), "variables": {}}))


def wait(port: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit("client.py: the server did not answer /healthz within 30 s")
        time.sleep(0.2)


def one_pass(port: str, tokens_path: str, body_path: str) -> None:
    body = Path(body_path).read_bytes()
    tokens = [line.strip() for line in Path(tokens_path).read_text().splitlines() if line.strip()]
    latencies = []
    for token in tokens:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/graphql",
            data=body,
            headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
        latencies.append((time.perf_counter() - started) * 1000)
        if "errors" in answer or not (answer.get("data") or {}).get("me"):
            sys.exit(f"client.py: MemberHome failed: {json.dumps(answer)[:500]}")
    print(
        f"   first view of {len(tokens)} members, one at a time: "
        f"mean {statistics.fmean(latencies):.1f} ms, median {statistics.median(latencies):.1f} ms",
        file=sys.stderr,
    )


def main() -> None:
    command, *args = sys.argv[1:]
    if command == "body":
        write_body(*args)
    elif command == "wait":
        wait(*args)
    elif command == "pass":
        one_pass(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
