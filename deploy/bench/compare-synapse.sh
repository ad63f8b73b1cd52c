#!/usr/bin/env bash
# Hanse against Synapse on this machine, in one run, with the same load
# client (hanse-bench) and the same PostgreSQL. Prints one JSON line per
# scenario and server, then a table of ratios. Nothing leaves loopback.
#
#   bash deploy/bench/compare-synapse.sh            # everything (~30 min)
#   MEMBERS=1000 bash deploy/bench/compare-synapse.sh   # a quicker big room
#   MEMBERS=0 bash deploy/bench/compare-synapse.sh      # no big room (~6 min)
#   SCENARIOS=sync bash deploy/bench/compare-synapse.sh # only the /sync ones
#
# Settings (environment): WORK (scratch directory, default
# /tmp/hanse-vs-synapse; Synapse's virtualenv is kept there between runs),
# SCENARIOS (any of basic, big_room, sync; default all), SENDERS, MESSAGES,
# MEMBERS, JOINS, WAKEUPS, SYNC_ROOMS, IDLE_CLIENTS. Needs PostgreSQL's
# server binaries, Python 3 with venv and pip (PyPI reachable), Rust.
#
# Synapse runs as the Matrix spec's reference would in production: its own
# PostgreSQL cluster with default settings (C locale, as it requires),
# presence off (Hanse's too), logging at WARNING, every rate limit lifted.
# Both servers keep fsync and synchronous commit on.
set -euo pipefail
cd "$(dirname "$0")/../.."

WORK=${WORK:-/tmp/hanse-vs-synapse}
SYNAPSE_VERSION=1.163.2
SENDERS=${SENDERS:-16}
MESSAGES=${MESSAGES:-4000}
MEMBERS=${MEMBERS:-10000}
JOINS=${JOINS:-100}
SCENARIOS=${SCENARIOS:-basic big_room sync}
WAKEUPS=${WAKEUPS:-1000}
SYNC_ROOMS=${SYNC_ROOMS:-500}
IDLE_CLIENTS=${IDLE_CLIENTS:-1000}
HANSE_PORT=18008
SYNAPSE_PORT=18018
TARGET=${CARGO_TARGET_DIR:-target}

say() { echo "== $*" >&2; }

pg_bin() {
    if command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
    elif command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
        pg_config --bindir
    else
        compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -1 | xargs dirname
    fi
}
PG_BIN=$(pg_bin)
# PostgreSQL refuses to run as root; then its files belong to `postgres`.
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

say "building hanse and hanse-bench (release)"
cargo build --release --quiet -p hanse-server --bin hanse -p hanse-sdk --bin hanse-bench
BENCH="$TARGET/release/hanse-bench"

mkdir -p "$WORK"
chmod 755 "$WORK"
VENV="$WORK/synapse-venv"
if ! "$VENV/bin/python" -c "import synapse" 2>/dev/null; then
    say "installing Synapse $SYNAPSE_VERSION into $VENV (about a minute)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "matrix-synapse[postgres]==$SYNAPSE_VERSION"
fi

rm -rf "$WORK/hanse" "$WORK/synapse" "$WORK/synapse-pg"
mkdir -p "$WORK/synapse" "$WORK/synapse-pg"
SYN_PG="$WORK/synapse-pg"
[ "$(id -u)" = 0 ] && chown postgres "$SYN_PG"

HANSE_PID=
SYNAPSE_PID=
cleanup() {
    [ -n "$SYNAPSE_PID" ] && kill "$SYNAPSE_PID" 2>/dev/null && wait "$SYNAPSE_PID" 2>/dev/null
    [ -n "$HANSE_PID" ] && kill "$HANSE_PID" 2>/dev/null && wait "$HANSE_PID" 2>/dev/null
    [ -f "$SYN_PG/data/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$SYN_PG/data" -m fast stop >/dev/null
    return 0
}
trap cleanup EXIT

say "starting PostgreSQL for Synapse"
as_pg "$PG_BIN/initdb" -D "$SYN_PG/data" -U synapse --auth=trust -E UTF8 --locale=C >/dev/null
as_pg mkdir -p "$SYN_PG/run"
as_pg "$PG_BIN/pg_ctl" -D "$SYN_PG/data" -l "$SYN_PG/log" -w \
    -o "-c listen_addresses='' -c unix_socket_directories=$SYN_PG/run" start >/dev/null
as_pg "$PG_BIN/createdb" -h "$SYN_PG/run" -U synapse synapse

say "configuring Synapse"
cat >"$WORK/synapse/log.yaml" <<EOF
version: 1
formatters:
  plain: { format: '%(asctime)s %(levelname)s %(name)s %(message)s' }
handlers:
  file: { class: logging.FileHandler, filename: $WORK/synapse/homeserver.log, formatter: plain }
root: { level: WARNING, handlers: [file] }
disable_existing_loggers: false
EOF
lifted='{per_second: 100000, burst_count: 100000}'
cat >"$WORK/synapse/homeserver.yaml" <<EOF
server_name: bench.test
pid_file: $WORK/synapse/homeserver.pid
listeners:
  - { port: $SYNAPSE_PORT, bind_addresses: [127.0.0.1], type: http, tls: false,
      resources: [{ names: [client], compress: false }] }
database:
  name: psycopg2
  args: { user: synapse, database: synapse, host: $SYN_PG/run, cp_min: 5, cp_max: 10 }
log_config: $WORK/synapse/log.yaml
media_store_path: $WORK/synapse/media
signing_key_path: $WORK/synapse/signing.key
report_stats: false
registration_shared_secret: bench-secret
macaroon_secret_key: bench-macaroon
form_secret: bench-form
trusted_key_servers: []
suppress_key_server_warning: true
enable_registration: true
enable_registration_without_verification: true
presence: { enabled: false }
rc_message: $lifted
rc_registration: $lifted
rc_login: { address: $lifted, account: $lifted, failed_attempts: $lifted }
rc_joins: { local: $lifted, remote: $lifted }
rc_joins_per_room: $lifted
rc_invites: { per_room: $lifted, per_user: $lifted, per_issuer: $lifted }
rc_room_creation: $lifted
rc_profile: $lifted
rc_user_directory: $lifted
EOF
"$VENV/bin/python" -m synapse.app.homeserver -c "$WORK/synapse/homeserver.yaml" \
    --generate-keys >/dev/null

say "starting Synapse and Hanse"
"$VENV/bin/python" -m synapse.app.homeserver -c "$WORK/synapse/homeserver.yaml" \
    >"$WORK/synapse/stdout.log" 2>&1 &
SYNAPSE_PID=$!
HANSE_REGISTRATION=open HANSE_RATE_LIMITS__ENABLED=false HANSE_PRESENCE=false HANSE_LOG__FILTER=warn \
    "$TARGET/release/hanse" --data-dir "$WORK/hanse" \
    --client-listen "127.0.0.1:$HANSE_PORT" --federation-listen 127.0.0.1:18448 \
    >"$WORK/hanse.log" 2>&1 &
HANSE_PID=$!
wait_for() {
    for _ in $(seq 120); do
        curl -fs "http://127.0.0.1:$1/_matrix/client/versions" >/dev/null && return 0
        sleep 1
    done
    echo "the server on port $1 did not start; see the logs in $WORK" >&2
    exit 1
}
wait_for $HANSE_PORT
wait_for $SYNAPSE_PORT

PSQL=$PG_BIN/psql
[ -x "$PSQL" ] || PSQL=psql
# Database size, compacted first: without VACUUM FULL, rows written into
# space that deletes freed earlier (Synapse deletes staging rows as it
# goes) would not count, and a table's first pages would count in full.
size_of() {
    echo "$PSQL -h $1 -U $2 -d $2 -qc 'VACUUM FULL' &&" \
        "$PSQL -h $1 -U $2 -d $2 -Atc 'SELECT pg_database_size(current_database())'"
}
measure_hanse=$(size_of "$WORK/hanse/postgres/run" hanse)
measure_synapse=$(size_of "$SYN_PG/run" synapse)
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

# run SERVER SCENARIO ARGS...: one hanse-bench scenario against one server.
run() {
    local server=$1 port measure
    shift
    if [ "$server" = hanse ]; then port=$HANSE_PORT measure=$measure_hanse; else port=$SYNAPSE_PORT measure=$measure_synapse; fi
    say "$server: $*"
    "$BENCH" --url "http://127.0.0.1:$port" --measure "$measure" "$@" |
        sed "s/^{/{\"server\":\"$server\",/" | tee -a "$RESULTS"
}

# memory PHASE: each server's peak resident memory so far (PostgreSQL's
# processes not counted).
memory() {
    local server pid peak
    for server in hanse synapse; do
        pid=$HANSE_PID
        [ "$server" = synapse ] && pid=$SYNAPSE_PID
        peak=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")
        echo "{\"server\":\"$server\",\"scenario\":\"memory\",\"phase\":\"$1\",\"peak_rss_kib\":$peak}" |
            tee -a "$RESULTS"
    done
}

wants() { [[ " $SCENARIOS " == *" $1 "* ]]; }

if wants basic; then
for server in hanse synapse; do
    run $server send --senders "$SENDERS" --messages "$MESSAGES"
    run $server send --senders 1 --messages 500
    run $server create-room --count 100
    run $server join --count 100 --concurrency 4
    run $server register --count 50 --concurrency 4
done
memory scenarios
fi
# What follows needs thousands of accounts. Hanse's have no password;
# Synapse insists on one, so it now hashes with bcrypt's lowest cost: the
# figures wanted are joins and syncs, not the hashing.
say "restarting Synapse with bcrypt_rounds: 4"
kill "$SYNAPSE_PID" && wait "$SYNAPSE_PID" || true
echo "bcrypt_rounds: 4" >>"$WORK/synapse/homeserver.yaml"
"$VENV/bin/python" -m synapse.app.homeserver -c "$WORK/synapse/homeserver.yaml" \
    >>"$WORK/synapse/stdout.log" 2>&1 &
SYNAPSE_PID=$!
wait_for $SYNAPSE_PORT
if wants big_room && [ "$MEMBERS" -gt 0 ]; then
for server in hanse synapse; do
    run $server big-room --members "$MEMBERS" --joins "$JOINS" --concurrency 8
done
memory big_room
fi
if wants sync; then
for server in hanse synapse; do
    pid=$HANSE_PID
    [ "$server" = synapse ] && pid=$SYNAPSE_PID
    run $server sync-wakeup --events "$WAKEUPS"
    run $server initial-sync --rooms "$SYNC_ROOMS"
    run $server idle-clients --clients "$IDLE_CLIENTS" --server-pid "$pid"
done
fi

python3 - "$RESULTS" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
def key(row):
    return (row["scenario"], row.get("phase"), row.get("senders"), row.get("concurrency"),
            row.get("members"), row.get("rooms"), row.get("clients"))
by = {}
for row in rows:
    by.setdefault(key(row), {})[row["server"]] = row
print("\n| scenario | Hanse | Synapse | ratio |\n|---|---|---|---|")
for k, pair in by.items():
    if set(pair) != {"hanse", "synapse"}:
        continue
    h, s = pair["hanse"], pair["synapse"]
    label = " ".join(str(p) for p in k if p is not None)
    for field, better in [("per_second", "higher"), ("p99_ms", "lower"),
                          ("bytes_per_message", "lower"), ("bytes_per_join", "lower"),
                          ("peak_rss_kib", "lower"), ("p50_ms", "lower"),
                          ("extra_mib", "lower")]:
        if h.get(field) is None or s.get(field) in (None, 0):
            continue
        ratio = h[field] / s[field] if better == "higher" else s[field] / max(h[field], 1e-9)
        print(f"| {label} {field} | {h[field]} | {s[field]} | {ratio:.1f}x |")
EOF
