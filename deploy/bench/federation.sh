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
#
# Settings (environment): WORK (scratch directory; default a new one under
# /tmp, removed afterwards unless KEEP=1 or the run failed), SCENARIOS (any
# of fanout, remote_join; default both), EVENTS and CONCURRENCY (fan-out),
# MEMBERS and JOINS (remote join), LOG_FILTER (the servers' log filter,
# default warn), BUILD=0 to use the binaries already built, PORT_BASE
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
HANSE="$TARGET/release/hanse"
BENCH="$TARGET/release/hanse-bench"

mkdir -p "$WORK"
# Running as root, each managed PostgreSQL runs as `postgres`, which must
# reach its data directory.
chmod 755 "$WORK"

PIDS=()
cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
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

say "starting A, B and C"
start A 1
start B 2
start C 3
wait_for "$URL_A"
wait_for "$URL_B"
wait_for "$URL_C"

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
bench() {
    say "hanse-bench $*"
    "$BENCH" "$@" | tee -a "$RESULTS"
}
wants() { [[ " $SCENARIOS " == *" $1 "* ]]; }

if wants fanout; then
    bench federated-fanout --servers "$URL_A,$URL_B,$URL_C" \
        --events "$EVENTS" --concurrency "$CONCURRENCY"
fi
if wants remote_join; then
    bench remote-join --resident "$URL_A" --joiner "$URL_B" \
        --members "$MEMBERS" --joins "$JOINS"
fi
# What the servers complained about, if anything.
for label in A B C; do
    lines=$(grep -c -E ' (WARN|ERROR) ' "$WORK/$label.log" || true)
    [ "$lines" -gt 0 ] && say "$label logged $lines warnings or errors (first: $(grep -m1 -E ' (WARN|ERROR) ' "$WORK/$label.log"))"
done
exit 0
