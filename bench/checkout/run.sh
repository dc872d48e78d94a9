#!/usr/bin/env bash
# Benchmark the till on PostgreSQL: N tills scan -> complete purchase over HTTP against
# `loyalty serve`, next to the floor (the same database work straight on asyncpg).
#
#   PYTHON=/tmp/venv/bin/python bench/checkout/run.sh
#   WORKERS="1 2" TILLS="8 32" DURATION=10 PYTHON=... bench/checkout/run.sh      # shorter
#   PROFILE=/tmp/checkout-profile PYTHON=... bench/checkout/run.sh                # + py-spy
#
# Steps:
#   1. create a fresh database $BENCH_DB (dropped at the end, also on failure or Ctrl-C);
#      `loyalty migrate`; seed.py: one store, $CASHIERS cashiers, $MEMBERS members with points,
#      through the services. Argon2 is set cheap (LOYALTY_ARGON2_TIME_COST=1,
#      LOYALTY_ARGON2_MEMORY_KIB=8) for the seed and the server: only the tills' logins hash a
#      password, before the measurement.
#   2. copy it to ${BENCH_DB}_floor (CREATE DATABASE ... TEMPLATE), where floor.py runs, so the
#      floor starts from the same data and the server's database holds only the server's
#      purchases.
#   3. for each of $WORKERS: start `loyalty serve --workers N` on a free 127.0.0.1 port; at each
#      of $TILLS run floor.py, then load.py ($WARMUP s unmeasured, then $DURATION s each); stop
#      the server. Each server run is compared with the floor run just before it: the machine's
#      speed drifts by tens of percent within minutes (bench/README.md).
#   4. the variant where every till scans ONE member: floor, then server ($ONE_WORKERS workers),
#      at each of $ONE_TILLS.
#   5. optionally (PROFILE=prefix): one worker, 32 tills, py-spy for $PROFILE_SECONDS s twice:
#      prefix.txt (raw, summed by profile_top.py into prefix.top.txt) and prefix.svg.
#   6. layers.py: the CPU per purchase of the use cases called directly (no HTTP, no GraphQL)
#      and their SQL statements, $LAYERS purchases one at a time.
#   7. `loyalty verify-ledger` on the server's database and on the floor's; the table (load.py
#      report) with the ratios server / floor and whether the targets are met.
# Every request goes to 127.0.0.1. Exit status: 1 when a run had errors or a ledger is not clean.
#
# Settings (environment): PYTHON (with the project's dependencies; default python3),
# PG_ADMIN_URL=postgresql://postgres@127.0.0.1:5432, BENCH_DB=loyalty_h_benchco, MEMBERS=2000,
# CASHIERS=32, WORKERS="1 2 3", TILLS="1 8 32", DURATION=20, WARMUP=3, ONE_WORKERS=2,
# ONE_TILLS="8 32" (empty: skip), PROFILE (unset: no profile), PROFILE_SECONDS=15, LAYERS=300,
# RESULTS (a file to keep the RESULT lines in; default: a temp file).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432}"
BENCH_DB="${BENCH_DB:-loyalty_h_benchco}"
FLOOR_DB="${BENCH_DB}_floor"
MEMBERS="${MEMBERS:-2000}"
CASHIERS="${CASHIERS:-32}"
WORKERS="${WORKERS:-1 2 3}"
TILLS="${TILLS:-1 8 32}"
DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-3}"
ONE_WORKERS="${ONE_WORKERS:-2}"
ONE_TILLS="${ONE_TILLS-8 32}"
PROFILE_SECONDS="${PROFILE_SECONDS:-15}"
LAYERS="${LAYERS:-300}"
PYSPY="${PYSPY:-$(dirname "$PYTHON")/py-spy}"
# Benchmark the tree this script sits in, even when PYTHON has another checkout installed.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

case "$PG_ADMIN_URL" in
  postgresql://*@127.0.0.1:* | postgresql://*@localhost:*) ;;
  *) echo "run.sh: PG_ADMIN_URL must point at 127.0.0.1" >&2; exit 2 ;;
esac
if ! "$PYTHON" -c "import app.cli, asyncpg, httpx" >/dev/null 2>&1; then
  echo "run.sh: '$PYTHON' cannot import the project, asyncpg and httpx; set PYTHON" >&2
  exit 2
fi
if [[ -n "${PROFILE:-}" ]] && ! [[ -x "$PYSPY" ]]; then
  echo "run.sh: PROFILE needs py-spy ($PYTHON -m pip install py-spy, or set PYSPY)" >&2
  exit 2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/loyalty-checkout.XXXXXX")"
RESULTS="${RESULTS:-$WORK/results.jsonl}"
SERVER_PID=""
psql_admin() { psql "$PG_ADMIN_URL/postgres" -v ON_ERROR_STOP=1 -qAt "$@"; }
stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
cleanup() {
  stop_server
  psql_admin -c "DROP DATABASE IF EXISTS $FLOOR_DB WITH (FORCE)" 2>/dev/null || true
  psql_admin -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export DATABASE_URL="${PG_ADMIN_URL/postgresql:/postgresql+asyncpg:}/$BENCH_DB"
FLOOR_DSN="$PG_ADMIN_URL/$FLOOR_DB"
export LOYALTY_ENV=development
export LOYALTY_ARGON2_TIME_COST=1
export LOYALTY_ARGON2_MEMORY_KIB=8
export LOYALTY_LOG_LEVEL="${LOYALTY_LOG_LEVEL:-WARNING}"
cd "$ROOT"

echo "== $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "== fresh database $BENCH_DB"
psql_admin -c "DROP DATABASE IF EXISTS $FLOOR_DB WITH (FORCE)" -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)"
psql_admin -c "CREATE DATABASE $BENCH_DB"
timeout 300 "$PYTHON" -m app.cli migrate # `loyalty migrate`, from this tree
echo "== seeding $MEMBERS members, $CASHIERS cashiers"
timeout 900 "$PYTHON" "$HERE/seed.py" --members "$MEMBERS" --cashiers "$CASHIERS" \
  --out "$WORK/seed.json"
psql_admin -c "CREATE DATABASE $FLOOR_DB TEMPLATE $BENCH_DB"

status=0
floor() { # floor TILLS [--one-member]
  timeout $((DURATION + WARMUP + 120)) "$PYTHON" "$HERE/floor.py" --dsn "$FLOOR_DSN" \
    --seed "$WORK/seed.json" --tills "$1" --duration "$DURATION" --warmup "$WARMUP" "${@:2}" \
    | tee -a "$RESULTS" >/dev/null || status=1
}
start_server() { # start_server WORKERS
  PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  URL="http://127.0.0.1:$PORT/graphql"
  "$PYTHON" -m app.cli serve --host 127.0.0.1 --port "$PORT" --workers "$1" \
    >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  "$PYTHON" "$HERE/load.py" wait --url "$URL" || { tail -20 "$WORK/server.log" >&2; exit 1; }
}
tills() { # tills WORKERS TILLS [--one-member] [--duration S]
  timeout $((DURATION + WARMUP + 300)) "$PYTHON" "$HERE/load.py" run --url "$URL" \
    --seed "$WORK/seed.json" --tills "$2" --duration "$DURATION" --warmup "$WARMUP" \
    --label "workers=$1" --server-pid "$SERVER_PID" --db-dsn "$PG_ADMIN_URL/$BENCH_DB" "${@:3}" \
    | tee -a "$RESULTS" >/dev/null || status=1
}

# The machine's speed drifts by tens of percent within minutes: every server run is measured
# right after a floor run at the same tills (labelled alike), and compared with that one.
for workers in $WORKERS; do
  echo "== loyalty serve --workers $workers, each run after the floor's (asyncpg, one process)"
  start_server "$workers"
  for n in $TILLS; do
    floor "$n" --label "workers=$workers"
    tills "$workers" "$n"
  done
  stop_server
done

if [[ -n "$ONE_TILLS" ]]; then
  echo "== every till on ONE member (the lock queue): floor, then --workers $ONE_WORKERS"
  start_server "$ONE_WORKERS"
  for n in $ONE_TILLS; do
    floor "$n" --one-member --label "workers=$ONE_WORKERS"
    tills "$ONE_WORKERS" "$n" --one-member
  done
  stop_server
fi

if [[ -n "${PROFILE:-}" ]]; then
  echo "== profile: --workers 1, 32 tills, py-spy on the server for 2 x $PROFILE_SECONDS s"
  start_server 1
  "$PYTHON" "$HERE/load.py" run --url "$URL" --seed "$WORK/seed.json" --tills 32 \
    --duration $((2 * PROFILE_SECONDS + 4)) --warmup 2 --label "profiled" \
    --server-pid "$SERVER_PID" >"$WORK/profiled.txt" &
  LOAD_PID=$!
  sleep 3
  "$PYSPY" record --nonblocking --format raw -o "$PROFILE.txt" --pid "$SERVER_PID" \
    --duration "$PROFILE_SECONDS" --rate 250 >/dev/null 2>&1 || status=1
  "$PYSPY" record --nonblocking -o "$PROFILE.svg" --pid "$SERVER_PID" \
    --duration "$PROFILE_SECONDS" --rate 250 >/dev/null 2>&1 || status=1
  wait "$LOAD_PID" || status=1
  stop_server
  "$PYTHON" "$HERE/profile_top.py" "$PROFILE.txt" --top 30 >"$PROFILE.top.txt"
  echo "   $PROFILE.svg, $PROFILE.txt, $PROFILE.top.txt (under load: $(cut -c8- "$WORK/profiled.txt" | head -c 160))"
fi

echo "== CPU per purchase by layer: the use cases called directly, one at a time (layers.py)"
timeout 300 "$PYTHON" "$HERE/layers.py" --seed "$WORK/seed.json" --purchases "$LAYERS" | sed 's/^/   /' \
  || status=1

echo "== loyalty verify-ledger on the server's database, then on the floor's"
"$PYTHON" -m app.cli verify-ledger 2>/dev/null || status=1
DATABASE_URL="${PG_ADMIN_URL/postgresql:/postgresql+asyncpg:}/$FLOOR_DB" \
  "$PYTHON" -m app.cli verify-ledger 2>/dev/null || status=1

if grep -q '"level": "error"' "$WORK/server.log"; then
  echo "run.sh: the server logged errors:" >&2
  grep '"level": "error"' "$WORK/server.log" | head -5 | cut -c1-500 >&2
  status=1
fi

echo "== results ($DURATION s measured after $WARMUP s; p50/p95/p99 of scan + complete)"
"$PYTHON" "$HERE/load.py" report "$RESULTS"
echo "== $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
