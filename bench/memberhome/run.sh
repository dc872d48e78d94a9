#!/usr/bin/env bash
# Benchmark the MemberHome query against `loyalty serve --workers 1`, measured with wrk.
#
#   bench/memberhome/run.sh                              # a fresh SQLite file in a temp dir
#   DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/loyalty_bench bench/memberhome/run.sh
#
# Steps: loyalty migrate; seed MEMBERS members and sign LOGINS of them in (seed.py, through the
# services); start the server on a free 127.0.0.1 port; one short warm-up; then, for each
# connection count, wrk for DURATION with THREADS threads, POSTing MemberHome with a bearer
# token chosen round-robin. Prints req/s and p50/p90/p99, and fails when any response was not a
# 200 carrying `data.me` (non-200s and GraphQL errors are counted in memberhome.lua).
#
# A PostgreSQL database must exist already; it is migrated and seeded (idempotently) but never
# created or dropped. The SQLite default lives in a temp dir removed at the end.
#
# Argon2 is set cheap (LOYALTY_ARGON2_TIME_COST=1, LOYALTY_ARGON2_MEMORY_KIB=8) for the seed and
# the server: MemberHome hashes no password, the cheap setting only makes seeding fast.
#
# Settings (environment): PYTHON (default: python3 on PATH, with the project installed),
# MEMBERS=1000, LOGINS=200, DURATION=20s, THREADS=2, CONNECTIONS="16 64", WARMUP=3s,
# RESULTS (a file to append the RESULT lines to; optional).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
MEMBERS="${MEMBERS:-1000}"
LOGINS="${LOGINS:-200}"
DURATION="${DURATION:-20s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-16 64}"
WARMUP="${WARMUP:-3s}"
# Benchmark the tree this script sits in, even when PYTHON has another checkout installed.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

if ! command -v wrk >/dev/null 2>&1; then
  echo "run.sh: wrk is not installed. On Debian/Ubuntu: apt-get update && apt-get install -y wrk" >&2
  echo "        (macOS: brew install wrk)" >&2
  exit 2
fi
if ! "$PYTHON" -c "import app.cli" >/dev/null 2>&1; then
  echo "run.sh: '$PYTHON' cannot import the project; install it (pip install -e .) or set PYTHON to a Python that can" >&2
  exit 2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/loyalty-bench.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export DATABASE_URL="${DATABASE_URL:-sqlite+aiosqlite:///$WORK/bench.db}"
export LOYALTY_ENV=development
export LOYALTY_ARGON2_TIME_COST=1
export LOYALTY_ARGON2_MEMORY_KIB=8
export LOYALTY_LOG_LEVEL="${LOYALTY_LOG_LEVEL:-WARNING}"
cd "$ROOT"

echo "== database: ${DATABASE_URL%%://*}://…${DATABASE_URL##*/}"
timeout 300 "$PYTHON" -m app.cli migrate

echo "== seeding $MEMBERS members, signing $LOGINS in"
timeout 900 "$PYTHON" "$HERE/seed.py" --members "$MEMBERS" --logins "$LOGINS" \
  --tokens "$WORK/tokens.txt"

# The request body: MemberHome exactly as the mobile app sends it (schema/operations).
"$PYTHON" - "$WORK/body.json" <<'EOF'
import json
import sys
from pathlib import Path

from graphql import OperationDefinitionNode, parse, print_ast

document = parse(Path("schema/operations/member.graphql").read_text())
(home,) = [
    d for d in document.definitions
    if isinstance(d, OperationDefinitionNode) and d.name and d.name.value == "MemberHome"
]
Path(sys.argv[1]).write_text(json.dumps({"query": print_ast(home), "variables": {}}))
EOF

PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT/graphql"
echo "== starting loyalty serve --workers 1 on 127.0.0.1:$PORT"
"$PYTHON" -m app.cli serve --host 127.0.0.1 --port "$PORT" --workers 1 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

# Up to 30 s for /healthz, then one MemberHome by hand: fail loudly before wrk hides it.
"$PYTHON" - "$PORT" "$WORK/tokens.txt" "$WORK/body.json" <<'EOF' || { cat "$WORK/server.log" >&2; exit 1; }
import json
import sys
import time
import urllib.request

port, tokens, body = sys.argv[1], sys.argv[2], sys.argv[3]
base = f"http://127.0.0.1:{port}"
deadline = time.monotonic() + 30
while True:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
            if response.status == 200:
                break
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit("run.sh: the server did not answer /healthz within 30 s")
    time.sleep(0.2)
token = open(tokens).readline().strip()
request = urllib.request.Request(
    f"{base}/graphql",
    data=open(body, "rb").read(),
    headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
)
with urllib.request.urlopen(request, timeout=10) as response:
    answer = json.load(response)
if "errors" in answer or not (answer.get("data") or {}).get("me"):
    sys.exit(f"run.sh: MemberHome failed: {json.dumps(answer)[:500]}")
print(f"   MemberHome ok: {len(json.dumps(answer))} bytes of JSON", file=sys.stderr)
EOF

run_wrk() {
  local connections="$1" duration="$2"
  # --timeout: a request slower than this counts as a socket timeout error, reported below.
  timeout 300 wrk --threads "$THREADS" --connections "$connections" --duration "$duration" \
    --timeout 10s --latency -s "$HERE/memberhome.lua" "$URL" -- "$WORK/tokens.txt" "$WORK/body.json"
}

# The server's CPU time (user + system, all threads) in clock ticks, from /proc (Linux only).
TICKS="$(getconf CLK_TCK 2>/dev/null || echo 100)"
cpu_ticks() {
  if [[ -r "/proc/$SERVER_PID/stat" ]]; then
    # Fields after the command name, which is in parentheses: utime is the 12th, stime the 13th.
    sed 's/^.*) //' "/proc/$SERVER_PID/stat" | awk '{print $12 + $13}'
  else
    echo ""
  fi
}

echo "== warm-up ($WARMUP, 16 connections, not reported)"
run_wrk 16 "$WARMUP" >/dev/null

status=0
summary=()
for connections in $CONNECTIONS; do
  echo "== wrk: $THREADS threads, $connections connections, $DURATION"
  before="$(cpu_ticks)"
  output="$(run_wrk "$connections" "$DURATION")"
  after="$(cpu_ticks)"
  echo "$output"
  result="$(grep '^RESULT ' <<<"$output" || true)"
  if [[ -z "$result" ]]; then
    echo "run.sh: wrk printed no RESULT line" >&2
    status=1
    continue
  fi
  if [[ -n "$before" && -n "$after" ]]; then
    # CPU per request, and how busy the server was (100% = one core): on a shared or noisy
    # machine, CPU ms per request varies much less than requests/s.
    result="$result $(awk -v b="$before" -v a="$after" -v t="$TICKS" -v r="$result" 'BEGIN {
      match(r, /requests=[0-9]+/); n = substr(r, RSTART + 9, RLENGTH - 9)
      match(r, /seconds=[0-9.]+/); d = substr(r, RSTART + 8, RLENGTH - 8)
      cpu = (a - b) / t
      printf "server_cpu_ms_per_req=%.1f server_cpu_pct=%.0f", (n > 0 ? 1000 * cpu / n : 0), 100 * cpu / d
    }')"
  fi
  summary+=("connections=$connections ${result#RESULT }")
  if [[ -n "${RESULTS:-}" ]]; then
    echo "db=${DATABASE_URL%%+*} threads=$THREADS duration=$DURATION connections=$connections ${result#RESULT }" >>"$RESULTS"
  fi
  # Every response must have been a 200 carrying data.me, and no socket errors.
  if ! grep -q ' non200=0 graphql_errors=0 socket_errors=0\b' <<<"$result"; then
    echo "run.sh: FAILED responses at $connections connections (see above)" >&2
    status=1
  fi
done

if grep -q '"level": "error"' "$WORK/server.log"; then
  echo "run.sh: the server logged errors:" >&2
  grep '"level": "error"' "$WORK/server.log" | head -5 >&2
  status=1
fi

echo "== summary (${DATABASE_URL%%+*}, 1 worker, $THREADS wrk threads, $DURATION each)"
for line in "${summary[@]}"; do
  # shellcheck disable=SC2086
  set -- $line
  printf '  %-16s' "$1"
  for field in "$@"; do
    case "$field" in rps=* | p50_ms=* | p90_ms=* | p99_ms=* | non200=* | graphql_errors=* | server_cpu_*) printf ' %s' "$field" ;; esac
  done
  printf '\n'
done
exit "$status"
