#!/usr/bin/env bash
# HQ's FluxAI dashboard on a release build with 100k conversations (about 750k events, from
# `flux seed-demo --conversations 100000 --days 365`), on SQLite and on a throwaway PostgreSQL cluster:
#   - GET /hq-command/dashboard/conversations (KPIs, funnel, industries, per-day, last 50), unfiltered and
#     filtered, 200 sequential requests each as a signed-in sales account: p50 and p95. Target p95 <= 50 ms.
#   - the transcript of a 200-event conversation, 200 requests: p50 and p95. Target <= 10 ms.
#   - the query plans of the dashboard's two statements.
# Server on core 0, the client on core 1.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product flux --scratch-path .build-release >/dev/null
bin=$(pwd)/.build-release/release/flux
conversations=${CONVERSATIONS:-100000}
work=$(mktemp -d)
cluster=""
flux_pid=""
cleanup() {
  [ -n "$flux_pid" ] && kill "$flux_pid" 2>/dev/null || true
  [ -n "$cluster" ] && scripts/pg-throwaway stop "$cluster" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
password="sales passphrase for the bench"

run() { # $1 = label; DATA_DIR and maybe DATABASE_URL exported
  echo "== $1"
  "$bin" seed-demo --conversations "$conversations" --days 365 2>/dev/null | grep -v '^{'
  # On PostgreSQL, the state autovacuum reaches a minute after a bulk load: statistics and the visibility map.
  if [ -n "${DATABASE_URL:-}" ]; then "$pg_bin/psql" "$DATABASE_URL" -qc "VACUUM ANALYZE ai_conversations" -c "VACUUM ANALYZE ai_events"; fi
  echo "$password" | "$bin" create-admin --email sales@bench.example --role sales >/dev/null 2>&1
  port=$(free_port)
  PORT=$port TRUSTED_PROXIES=127.0.0.1 LOG_LEVEL=error taskset -c 0 "$bin" serve > "$work/flux.log" 2>&1 &
  flux_pid=$!
  until curl -sf "http://127.0.0.1:$port/api/health/live" >/dev/null; do sleep 0.1; done
  URL=http://127.0.0.1:$port PASSWORD=$password taskset -c 1 python3 - <<'PY'
import os, statistics, time, requests
url, password = os.environ["URL"], os.environ["PASSWORD"]
session = requests.Session()
session.headers["X-CSRF-Token"] = session.get(url + "/api/csrf").json()["token"]
token = session.post(url + "/api/auth/login", json={"email": "sales@bench.example", "password": password}).json()["accessToken"]
# A conversation of 200 events: 100 turns from one visitor (each from its own address, past the rate limit).
for turn in range(100):
    session.post(url + "/api/chat", json={"sessionId": "bench-long", "message": f"We dry textiles, question {turn}"},
                 headers={"X-Forwarded-For": f"10.77.{turn // 250}.{turn % 250}"}).raise_for_status()
time.sleep(0.2)
staff = requests.Session()
staff.headers["Authorization"] = "Bearer " + token
def timed(path, n=200):
    staff.get(url + path).raise_for_status()
    took = []
    for _ in range(n):
        start = time.perf_counter()
        response = staff.get(url + path)
        took.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    took.sort()
    return took[len(took) // 2], took[int(len(took) * 0.95) - 1]
for label, path in [("dashboard, unfiltered", "/hq-command/dashboard/conversations"),
                    ("dashboard, outcome=CONSULTATION&locale=it", "/hq-command/dashboard/conversations?outcome=CONSULTATION&locale=it"),
                    ("dashboard, last 30 days", "/hq-command/dashboard/conversations?from=" + time.strftime("%Y-%m-%d", time.gmtime(time.time() - 30 * 86400)))]:
    p50, p95 = timed(path)
    print(f"{label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms (target p95 <= 50 ms)")
html = staff.get(url + "/hq-command/dashboard/conversations?locale=en").text
page = staff.get(url + "/hq-command/dashboard/conversations").text
import re
long_id = None
for match in re.finditer(r"/hq-command/dashboard/conversations/([0-9A-F-]{36})", page):
    candidate = staff.get(url + "/hq-command/dashboard/conversations/" + match.group(1)).text
    if candidate.count("<tr class=") >= 200:
        long_id = match.group(1)
        break
assert long_id, "the 200-event conversation is not among the latest"
p50, p95 = timed("/hq-command/dashboard/conversations/" + long_id)
print(f"transcript of 200 events: p50 {p50:.1f} ms, p95 {p95:.1f} ms (target <= 10 ms)")
PY
  kill "$flux_pid"; wait "$flux_pid" 2>/dev/null || true; flux_pid=""
}

aggregate='SELECT "funnelStage", outcome, "industryLabel", count(*), CAST(sum("messageCount") AS BIGINT), CAST(sum("toolCallCount") AS BIGINT) FROM ai_conversations WHERE 1 = 1 GROUP BY "funnelStage", outcome, "industryLabel"'
sqlite_days="SELECT CAST(\"startedAt\" / 86400 AS INTEGER) AS day, count(*) FROM ai_conversations WHERE 1 = 1 AND \"startedAt\" >= $(($(date +%s) - 31 * 86400)) GROUP BY 1"
pg_days="SELECT (\"startedAt\" AT TIME ZONE 'UTC')::date - DATE '1970-01-01' AS day, count(*) FROM ai_conversations WHERE 1 = 1 AND \"startedAt\" >= now() - interval '31 days' GROUP BY 1"
latest='SELECT id FROM ai_conversations WHERE 1 = 1 ORDER BY "startedAt" DESC LIMIT 50'
pg_bin=""

export DATA_DIR=$work/sqlite
run "SQLite"
echo "-- query plans (SQLite)"
python3 -c "
import sqlite3, sys
db = sqlite3.connect('$work/sqlite/flux.sqlite')
for sql in sys.argv[1:]:
    print(sql); [print('   ', row[-1]) for row in db.execute('EXPLAIN QUERY PLAN ' + sql)]
" "$aggregate" "$sqlite_days" "$latest"

cluster=$(mktemp -d /tmp/flux-pg.XXXXXX)
settings=$(scripts/pg-throwaway start "$cluster" 2>/dev/null)
export DATABASE_URL=$(echo "$settings" | sed -n 's/^FLUX_TEST_DATABASE_URL=//p')
pg_bin=$(echo "$settings" | sed -n 's/^FLUX_PG_BIN=//p')
export DATA_DIR=$work/pg
run "PostgreSQL"
echo "-- query plans (PostgreSQL)"
# The aggregate with the two planner costs Flux sets for it (see ConversationAnalytics.groups).
echo "$aggregate"
"$pg_bin/psql" "$DATABASE_URL" -At -c "SET random_page_cost = 1.1" -c "SET max_parallel_workers_per_gather = 0" \
  -c "EXPLAIN ANALYZE $aggregate" | grep -v '^SET$' | sed 's/^/    /'
for sql in "$pg_days" "$latest"; do
  echo "$sql"
  "$pg_bin/psql" "$DATABASE_URL" -Atc "EXPLAIN ANALYZE $sql" | sed 's/^/    /'
done
