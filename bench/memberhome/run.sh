#!/usr/bin/env bash
# Benchmark the MemberHome query against `loyalty serve --workers 1`, measured with wrk.
#
#   bench/memberhome/run.sh                              # a fresh SQLite file in a temp dir
#   DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/loyalty_bench bench/memberhome/run.sh
#
# Steps: loyalty migrate; seed MEMBERS members and sign LOGINS of them in (seed.py, through the
# services); start the server on a free 127.0.0.1 port. Then, for each connection count:
#   1. wait for the next minute (ALIGN=1): the member code the app shows as a QR rotates every
#      60 s and its SVG is cached, so every measurement starts with the same cache state;
#   2. one MemberHome per token, one at a time ("first view": renders each member's QR; its
#      latency is printed, and any error stops the run);
#   3. 2 s of wrk at this connection count (opens the connections and the pool; not reported);
#   4. wrk for DURATION with THREADS threads, POSTing MemberHome with a bearer token chosen
#      round-robin, --latency. Within the minute, the QR cache hits.
# Prints req/s, p50/p90/p99 and the server's CPU per request, and fails when any response was
# not a 200 carrying `data.me` (counted in memberhome.lua) or the server logged an error.
#
# A PostgreSQL database must exist already; it is migrated and seeded (idempotently) but never
# created or dropped. The SQLite default lives in a temp dir, removed at the end.
#
# Argon2 is set cheap (LOYALTY_ARGON2_TIME_COST=1, LOYALTY_ARGON2_MEMORY_KIB=8) for the seed and
# the server: MemberHome hashes no password; the cheap setting only makes seeding fast.
#
# Settings (environment): PYTHON (default: python3 on PATH, with the project's dependencies),
# MEMBERS=1000, LOGINS=200, DURATION=20s, THREADS=2, CONNECTIONS="16 64", ALIGN=1,
# RESULTS (a file to append one line per measurement to; optional).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
MEMBERS="${MEMBERS:-1000}"
LOGINS="${LOGINS:-200}"
DURATION="${DURATION:-20s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-16 64}"
ALIGN="${ALIGN:-1}"
# Benchmark the tree this script sits in, even when PYTHON has another checkout installed.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

if ! command -v wrk >/dev/null 2>&1; then
  echo "run.sh: wrk is not installed. On Debian/Ubuntu: apt-get update && apt-get install -y wrk" >&2
  echo "        (macOS: brew install wrk)" >&2
  exit 2
fi
if ! "$PYTHON" -c "import app.cli" >/dev/null 2>&1; then
  echo "run.sh: '$PYTHON' cannot import the project; pip install -e . or set PYTHON" >&2
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
DB_KIND="${DATABASE_URL%%+*}"
DB_KIND="${DB_KIND%%:*}"
cd "$ROOT"

echo "== $DB_KIND database …/${DATABASE_URL##*/} at $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
timeout 300 "$PYTHON" -m app.cli migrate

echo "== seeding $MEMBERS members, signing $LOGINS in"
timeout 900 "$PYTHON" "$HERE/seed.py" --members "$MEMBERS" --logins "$LOGINS" \
  --tokens "$WORK/tokens.txt"
"$PYTHON" "$HERE/client.py" body "$WORK/body.json"

PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT/graphql"
echo "== starting loyalty serve --workers 1 on 127.0.0.1:$PORT"
"$PYTHON" -m app.cli serve --host 127.0.0.1 --port "$PORT" --workers 1 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
"$PYTHON" "$HERE/client.py" wait "$PORT" || { cat "$WORK/server.log" >&2; exit 1; }

# The server's CPU time (user + system, all threads) in clock ticks, from /proc (Linux only).
TICKS="$(getconf CLK_TCK 2>/dev/null || echo 100)"
cpu_ticks() {
  if [[ -r "/proc/$SERVER_PID/stat" ]]; then
    # The fields after the command name (in parentheses): utime is the 12th, stime the 13th.
    sed 's/^.*) //' "/proc/$SERVER_PID/stat" | awk '{print $12 + $13}'
  fi
}

run_wrk() {
  local connections="$1" duration="$2"
  # --timeout: a request slower than this counts as a socket timeout error, reported below.
  timeout 300 wrk --threads "$THREADS" --connections "$connections" --duration "$duration" \
    --timeout 10s --latency -s "$HERE/memberhome.lua" "$URL" -- "$WORK/tokens.txt" "$WORK/body.json"
}

status=0
summary=()
for connections in $CONNECTIONS; do
  if [[ "$ALIGN" == 1 ]]; then
    echo "== waiting for the next minute (the member codes rotate)"
    "$PYTHON" -c 'import time; time.sleep(60.5 - time.time() % 60)'
  fi
  "$PYTHON" "$HERE/client.py" pass "$PORT" "$WORK/tokens.txt" "$WORK/body.json" \
    || { tail -5 "$WORK/server.log" >&2; exit 1; }
  run_wrk "$connections" 2s >/dev/null

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
  result="${result#RESULT }"
  if [[ -n "$before" && -n "$after" ]]; then
    # CPU per request, and how busy the server was (100% = one core). On a shared machine
    # CPU ms per request varies much less than requests/s.
    result="$result $(awk -v b="$before" -v a="$after" -v t="$TICKS" -v r="$result" 'BEGIN {
      match(r, /requests=[0-9]+/); n = substr(r, RSTART + 9, RLENGTH - 9)
      match(r, /seconds=[0-9.]+/); d = substr(r, RSTART + 8, RLENGTH - 8)
      cpu = (a - b) / t
      printf "server_cpu_ms_per_req=%.1f server_cpu_pct=%.0f", (n > 0 ? 1000 * cpu / n : 0), 100 * cpu / d
    }')"
  fi
  summary+=("connections=$connections $result")
  if [[ -n "${RESULTS:-}" ]]; then
    echo "$(date -u +%FT%TZ) db=$DB_KIND threads=$THREADS duration=$DURATION connections=$connections $result load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null)" >>"$RESULTS"
  fi
  # Every response must have been a 200 carrying data.me, and no socket errors.
  if ! grep -q 'non200=0 graphql_errors=0 socket_errors=0' <<<"$result"; then
    echo "run.sh: FAILED responses at $connections connections (see above)" >&2
    status=1
  fi
done

if grep -q '"level": "error"' "$WORK/server.log"; then
  echo "run.sh: the server logged errors:" >&2
  grep '"level": "error"' "$WORK/server.log" | head -5 | cut -c1-500 >&2
  status=1
fi

echo "== summary ($DB_KIND, 1 worker, $THREADS wrk threads, $DURATION each)"
for line in "${summary[@]}"; do
  # shellcheck disable=SC2086
  set -- $line
  printf '  %-16s' "$1"
  for field in "$@"; do
    case "$field" in
      rps=* | p50_ms=* | p90_ms=* | p99_ms=* | non200=* | graphql_errors=* | server_cpu_*) printf ' %s' "$field" ;;
    esac
  done
  printf '\n'
done
exit "$status"
