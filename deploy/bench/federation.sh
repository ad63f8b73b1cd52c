#!/usr/bin/env bash
# Three Hanse servers federating on loopback, A, B and C, each with its
# own name (localhost:<federation port>), data directory and managed
# PostgreSQL, TLS from a private CA made for this run; then the
# federation scenarios of hanse-bench against them. Prints one JSON line
# per scenario and stops everything it started, however it ends.
#
#   bash deploy/bench/federation.sh                       # N=2000 K=8, M=2000
#   EVENTS=200 MEMBERS=100 JOINS=2 bash deploy/bench/federation.sh   # quick
#   SCENARIOS=remote_join LOG_FILTER=info,hanse_core=debug KEEP=1 bash deploy/bench/federation.sh
#   SCENARIOS="remote_join synapse_join" bash deploy/bench/federation.sh   # and a Synapse joiner
#
# Settings (environment): WORK (scratch directory; default a new one under
# /tmp, removed afterwards unless KEEP=1 or the run failed), SCENARIOS (any
# of fanout, remote_join, synapse_join; default the first two; synapse_join
# is remote_join with a Synapse 1.163.2 joiner, installed from PyPI into
# CACHE, default ~/.cache/hanse-fedbench, with its own PostgreSQL, logging
# at WARNING, rate limits lifted), EVENTS and CONCURRENCY (fan-out),
# MEMBERS and JOINS (remote join), LOG_FILTER (the servers' log filter,
# default warn), BUILD=0 to use the binaries already built, SERVER_BIN (another
# hanse binary to run, e.g. an older build to compare), PORT_BASE
# (default 28000: A serves clients on PORT_BASE+1 and federation on
# PORT_BASE+441, B and C on the next ports). Needs openssl, PostgreSQL's
# server binaries and Rust. Nothing leaves loopback.
set -euo pipefail
cd "$(dirname "$0")/../.."

EVENTS=${EVENTS:-2000}
CONCURRENCY=${CONCURRENCY:-8}
MEMBERS=${MEMBERS:-2000}
JOINS=${JOINS:-3}
SCENARIOS=${SCENARIOS:-fanout remote_join}
LOG_FILTER=${LOG_FILTER:-warn}
PORT_BASE=${PORT_BASE:-28000}
TARGET=${CARGO_TARGET_DIR:-target}
WORK=${WORK:-$(mktemp -d /tmp/hanse-federation-bench.XXXXXX)}

say() { echo "== $*" >&2; }

if [ "${BUILD:-1}" != 0 ]; then
    say "building hanse and hanse-bench (release)"
    cargo build --release --quiet -p hanse-server --bin hanse -p hanse-sdk --bin hanse-bench
fi
HANSE=${SERVER_BIN:-$TARGET/release/hanse}
BENCH="$TARGET/release/hanse-bench"

mkdir -p "$WORK"
# Running as root, each managed PostgreSQL runs as `postgres`, which must
# reach its data directory.
chmod 755 "$WORK"

PIDS=()
SYN_PG=
cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$SYN_PG" ] && [ -f "$SYN_PG/data/postmaster.pid" ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$SYN_PG/data" -m fast stop >/dev/null || true
    fi
    if [ "$status" = 0 ] && [ "${KEEP:-0}" = 0 ]; then
        rm -rf "$WORK"
    else
        say "logs and data kept in $WORK"
    fi
    return "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "making a private CA and a certificate for localhost in $WORK/tls"
TLS="$WORK/tls"
mkdir -p "$TLS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$TLS/ca.key" -out "$TLS/ca.pem" -subj "/CN=Hanse federation bench CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TLS/server.key" -out "$TLS/server.csr" -subj "/CN=localhost" 2>/dev/null
printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth,clientAuth" \
    >"$TLS/server.ext"
openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" \
    -CAcreateserial -days 2 -extfile "$TLS/server.ext" -out "$TLS/server.pem" 2>/dev/null
chmod 644 "$TLS"/*

# start LABEL INDEX: one server, clients on PORT_BASE+INDEX, federation
# on PORT_BASE+440+INDEX, named localhost:<federation port>.
start() {
    local label=$1 client=$((PORT_BASE + $2)) federation=$((PORT_BASE + 440 + $2))
    mkdir -p "$WORK/$label"
    chmod 755 "$WORK/$label"
    HANSE_REGISTRATION=open HANSE_RATE_LIMITS__ENABLED=false HANSE_PRESENCE=false \
        HANSE_LOG__FILTER="$LOG_FILTER" \
        "$HANSE" --server-name "localhost:$federation" --data-dir "$WORK/$label" \
        --client-listen "127.0.0.1:$client" --federation-listen "127.0.0.1:$federation" \
        --tls-cert "$TLS/server.pem" --tls-key "$TLS/server.key" --federation-ca "$TLS/ca.pem" \
        >"$WORK/$label.log" 2>&1 &
    PIDS+=("$!")
    eval "URL_$label=http://127.0.0.1:$client"
    say "$label: localhost:$federation (clients on 127.0.0.1:$client), pid $!, log $WORK/$label.log"
}
wait_for() {
    local url=$1
    for _ in $(seq 180); do
        curl -fs "$url/_matrix/client/versions" >/dev/null && return 0
        for pid in "${PIDS[@]}"; do
            kill -0 "$pid" 2>/dev/null || { echo "server $pid exited; see $WORK/*.log" >&2; exit 1; }
        done
        sleep 1
    done
    echo "$url did not answer in 180 s; see the logs in $WORK" >&2
    exit 1
}

wants() { [[ " $SCENARIOS " == *" $1 "* ]]; }
# PostgreSQL refuses to run as root; then its files belong to `postgres`.
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_synapse INDEX: Synapse on its own PostgreSQL, clients on
# PORT_BASE+INDEX, federation (TLS, the same certificate) on
# PORT_BASE+440+INDEX.
start_synapse() {
    local client=$((PORT_BASE + $1)) federation=$((PORT_BASE + 440 + $1))
    local version=1.163.2 cache=${CACHE:-$HOME/.cache/hanse-fedbench}
    local venv syn=$WORK/synapse lifted='{per_second: 100000, burst_count: 100000}'
    venv=$cache/synapse-$version
    if ! "$venv/bin/python" -c "import synapse, psycopg2" 2>/dev/null; then
        say "installing Synapse $version into $venv (about a minute)"
        rm -rf "$venv"
        mkdir -p "$cache"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet "matrix-synapse[postgres]==$version"
    fi
    PG_BIN=$(dirname "$(readlink -f "$(command -v initdb)")")
    SYN_PG=$WORK/synapse-pg
    mkdir -p "$syn" "$SYN_PG"
    chmod 755 "$syn" "$SYN_PG"
    if [ "$(id -u)" = 0 ]; then chown postgres "$SYN_PG"; fi
    as_pg "$PG_BIN/initdb" -D "$SYN_PG/data" -U synapse --auth=trust -E UTF8 --locale=C >/dev/null
    as_pg mkdir -p "$SYN_PG/run"
    as_pg "$PG_BIN/pg_ctl" -D "$SYN_PG/data" -l "$SYN_PG/log" -w \
        -o "-c listen_addresses='' -c unix_socket_directories=$SYN_PG/run" start >/dev/null
    as_pg "$PG_BIN/createdb" -h "$SYN_PG/run" -U synapse synapse
    cat >"$syn/log.yaml" <<LOG
version: 1
formatters:
  plain: { format: '%(asctime)s %(levelname)s %(name)s %(message)s' }
handlers:
  file: { class: logging.FileHandler, filename: $syn/homeserver.log, formatter: plain }
root: { level: WARNING, handlers: [file] }
disable_existing_loggers: false
LOG
    cat >"$syn/homeserver.yaml" <<CONFIG
server_name: "localhost:$federation"
pid_file: $syn/homeserver.pid
listeners:
  - { port: $federation, bind_addresses: [127.0.0.1], type: http, tls: true,
      resources: [{ names: [federation], compress: false }] }
  - { port: $client, bind_addresses: [127.0.0.1], type: http, tls: false,
      resources: [{ names: [client], compress: false }] }
tls_certificate_path: $TLS/server.pem
tls_private_key_path: $TLS/server.key
federation_verify_certificates: true
federation_custom_ca_list: [$TLS/ca.pem]
ip_range_whitelist: [127.0.0.0/8, "::1/128"]
trusted_key_servers: []
suppress_key_server_warning: true
database:
  name: psycopg2
  args: { user: synapse, database: synapse, host: $SYN_PG/run, cp_min: 5, cp_max: 10 }
log_config: $syn/log.yaml
media_store_path: $syn/media
signing_key_path: $syn/signing.key
report_stats: false
registration_shared_secret: bench-secret
macaroon_secret_key: bench-macaroon
form_secret: bench-form
enable_registration: true
enable_registration_without_verification: true
bcrypt_rounds: 4
presence: { enabled: false }
rc_message: $lifted
rc_registration: $lifted
rc_login: { address: $lifted, account: $lifted, failed_attempts: $lifted }
rc_joins: { local: $lifted, remote: $lifted }
rc_joins_per_room: $lifted
rc_invites: { per_room: $lifted, per_user: $lifted, per_issuer: $lifted }
rc_room_creation: $lifted
rc_federation: { window_size: 1000, sleep_limit: 1000, sleep_delay: 1, reject_limit: 1000, concurrent: 100 }
CONFIG
    "$venv/bin/python" -m synapse.app.homeserver -c "$syn/homeserver.yaml" --generate-keys >/dev/null
    "$venv/bin/python" -m synapse.app.homeserver -c "$syn/homeserver.yaml" >"$syn/stdout.log" 2>&1 &
    PIDS+=("$!")
    URL_S=http://127.0.0.1:$client
    say "S (Synapse $version): localhost:$federation (clients on 127.0.0.1:$client), pid $!, log $syn/homeserver.log"
}

say "starting A, B and C"
start A 1
start B 2
start C 3
wait_for "$URL_A"
wait_for "$URL_B"
wait_for "$URL_C"
if wants synapse_join; then
    start_synapse 4
    wait_for "$URL_S"
fi

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
bench() {
    say "hanse-bench $*"
    "$BENCH" "$@" | tee -a "$RESULTS"
}
if wants fanout; then
    bench federated-fanout --servers "$URL_A,$URL_B,$URL_C" \
        --events "$EVENTS" --concurrency "$CONCURRENCY"
fi
if wants remote_join; then
    bench remote-join --resident "$URL_A" --joiner "$URL_B" \
        --members "$MEMBERS" --joins "$JOINS"
fi
if wants synapse_join; then
    say "the same with a Synapse joiner"
    bench remote-join --resident "$URL_A" --joiner "$URL_S" \
        --members "$MEMBERS" --joins "$JOINS"
fi
# What the servers complained about, if anything.
for label in A B C; do
    lines=$(grep -c -E ' (WARN|ERROR) ' "$WORK/$label.log" || true)
    [ "$lines" -gt 0 ] && say "$label logged $lines warnings or errors (first: $(grep -m1 -E ' (WARN|ERROR) ' "$WORK/$label.log"))"
done
exit 0
