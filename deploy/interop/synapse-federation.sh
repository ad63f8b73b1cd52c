#!/usr/bin/env bash
# Hanse federating with Synapse on loopback: one Hanse (release binary,
# managed PostgreSQL) and one Synapse (SQLite), both named
# `localhost:<federation port>`, both speaking TLS on their federation port
# with a certificate from a private CA made here, which both trust. The
# checks themselves are in synapse_federation.py, through the client APIs:
#
#   (a) a Synapse user joins a room created on Hanse;
#   (b) a Hanse user joins a room created on Synapse;
#   (c) messages flow both ways in both rooms;
#   (d) both servers list the same joined members in both rooms;
#
# and then, per room: (e) 10 messages from each side at once, (h) a
# redaction from each side, (i) power levels from the creator and a topic
# from the other side, (j) a member event update, (f) a second user joining
# on the server that is in the room already, (g) the remote member leaving.
# Then invites and knocks across the servers: (k) a Hanse user invites a
# Synapse user, who joins naming no server; (m) a Synapse user invites two
# Hanse users with createRoom, one rejects while Hanse is not in the room
# (through Synapse), and (l) the other joins; (n) a Hanse user knocks on a
# Synapse room and retracts; (o) a Synapse user knocks on a Hanse room, is
# invited and joins (knocks from room version 7 on).
# All for the servers' default room version (12) and each of 3 to 11; Hanse
# creates rooms of 10 to 12 only, so for 3 to 9 there is only Synapse's room.
#
#   bash deploy/interop/synapse-federation.sh
#
# Prints each step and PASS or FAIL; exits non-zero on failure. Stops what it
# started. About 30 s for one room version, 90 s for all, after the build.
#
# Settings (environment; not HANSE_*, which are Hanse's own settings):
#   INTEROP_HANSE_BIN    a built `hanse` (default: build the release binary)
#   CACHE                where Synapse's virtualenv is kept between runs
#                        (default ~/.cache/hanse-interop)
#   ROOM_VERSIONS        default "default 3 4 5 6 7 8 9 10 11"
#   INTEROP_HANSE_LOG    Hanse's log filter (default info)
#   INTEROP_SYNAPSE_LOG  Synapse's log level (default INFO)
#   KEEP=1               keep the scratch directory and logs (always kept
#                        on failure)
# Needs PostgreSQL's server binaries, openssl, Python 3 with venv and pip
# (PyPI reachable on the first run), curl, Rust.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD

SYNAPSE_VERSION=1.163.2
CACHE=${CACHE:-$HOME/.cache/hanse-interop}
VENV=$CACHE/synapse-$SYNAPSE_VERSION
TARGET=${CARGO_TARGET_DIR:-target}
# "default": each server's own (12 for both, as of Synapse 1.163).
ROOM_VERSIONS=${ROOM_VERSIONS:-default 3 4 5 6 7 8 9 10 11}

say() { echo "== $*" >&2; }
started=$(date +%s)

if [ -z "${INTEROP_HANSE_BIN:-}" ]; then
    say "building hanse (release)"
    cargo build --release --quiet -p hanse-server --bin hanse
    INTEROP_HANSE_BIN=$TARGET/release/hanse
fi
hanse_bin=$(readlink -f "$INTEROP_HANSE_BIN")

if ! "$VENV/bin/python" -c "import synapse" 2>/dev/null; then
    say "installing Synapse $SYNAPSE_VERSION into $VENV (about a minute)"
    rm -rf "$VENV"
    mkdir -p "$CACHE"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "matrix-synapse==$SYNAPSE_VERSION"
fi

WORK=$(mktemp -d /tmp/hanse-synapse-XXXXXX)
# The managed PostgreSQL runs as `postgres` when we are root: it must reach
# the data directory.
chmod 755 "$WORK"

HANSE_PID=
SYNAPSE_PID=
DRIVER_PID=
cleanup() {
    local status=$?
    set +e # a `wait` on a killed process fails; every step must still run
    [ -n "$DRIVER_PID" ] && kill "$DRIVER_PID" 2>/dev/null && wait "$DRIVER_PID" 2>/dev/null
    [ -n "$SYNAPSE_PID" ] && kill "$SYNAPSE_PID" 2>/dev/null && wait "$SYNAPSE_PID" 2>/dev/null
    # SIGTERM: Hanse stops its PostgreSQL before it exits.
    [ -n "$HANSE_PID" ] && kill "$HANSE_PID" 2>/dev/null && wait "$HANSE_PID" 2>/dev/null
    if [ "$status" != 0 ] || [ -n "${KEEP:-}" ]; then
        echo "logs kept in $WORK (hanse.log, synapse/homeserver.log)" >&2
    else
        rm -rf "$WORK"
    fi
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
HANSE_CLIENT=$(free_port)
HANSE_FED=$(free_port)
SYNAPSE_CLIENT=$(free_port)
SYNAPSE_FED=$(free_port)
HANSE_NAME=localhost:$HANSE_FED
SYNAPSE_NAME=localhost:$SYNAPSE_FED

say "making a private CA and a certificate for localhost and 127.0.0.1"
TLS=$WORK/tls
mkdir -p "$TLS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=Hanse interop test CA" -keyout "$TLS/ca.key" -out "$TLS/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$TLS/server.key" -out "$TLS/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n' \
    >"$TLS/ext.cnf"
openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" \
    -CAcreateserial -days 2 -extfile "$TLS/ext.cnf" -out "$TLS/server.pem" 2>/dev/null
chmod 644 "$TLS"/*

say "configuring Synapse ($SYNAPSE_NAME)"
SYN=$WORK/synapse
mkdir -p "$SYN"
cat >"$SYN/log.yaml" <<EOF
version: 1
formatters:
  plain: { format: '%(asctime)s %(levelname)s %(name)s %(message)s' }
handlers:
  file: { class: logging.FileHandler, filename: $SYN/homeserver.log, formatter: plain }
root: { level: ${INTEROP_SYNAPSE_LOG:-INFO}, handlers: [file] }
disable_existing_loggers: false
EOF
lifted='{per_second: 100000, burst_count: 100000}'
cat >"$SYN/homeserver.yaml" <<EOF
server_name: "$SYNAPSE_NAME"
pid_file: $SYN/homeserver.pid
listeners:
  - { port: $SYNAPSE_FED, bind_addresses: [127.0.0.1], type: http, tls: true,
      resources: [{ names: [federation], compress: false }] }
  - { port: $SYNAPSE_CLIENT, bind_addresses: [127.0.0.1], type: http, tls: false,
      resources: [{ names: [client], compress: false }] }
tls_certificate_path: $TLS/server.pem
tls_private_key_path: $TLS/server.key
federation_verify_certificates: true
federation_custom_ca_list: [$TLS/ca.pem]
ip_range_whitelist: [127.0.0.0/8, "::1/128"]
trusted_key_servers: []
suppress_key_server_warning: true
database: { name: sqlite3, args: { database: $SYN/homeserver.db } }
log_config: $SYN/log.yaml
media_store_path: $SYN/media
signing_key_path: $SYN/signing.key
report_stats: false
registration_shared_secret: interop-secret
macaroon_secret_key: interop-macaroon
form_secret: interop-form
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
rc_federation: { window_size: 1000, sleep_limit: 1000, sleep_delay: 1, reject_limit: 1000, concurrent: 100 }
EOF
"$VENV/bin/python" -m synapse.app.homeserver -c "$SYN/homeserver.yaml" --generate-keys >/dev/null

say "starting Synapse (client :$SYNAPSE_CLIENT, federation :$SYNAPSE_FED) and Hanse (client :$HANSE_CLIENT, federation :$HANSE_FED)"
"$VENV/bin/python" -m synapse.app.homeserver -c "$SYN/homeserver.yaml" >"$SYN/stdout.log" 2>&1 &
SYNAPSE_PID=$!
HANSE_REGISTRATION=open HANSE_RATE_LIMITS__ENABLED=false HANSE_PRESENCE=false \
    HANSE_LOG__FILTER=${INTEROP_HANSE_LOG:-info} \
    "$hanse_bin" --server-name "$HANSE_NAME" --data-dir "$WORK/hanse" \
    --client-listen "127.0.0.1:$HANSE_CLIENT" --federation-listen "127.0.0.1:$HANSE_FED" \
    --tls-cert "$TLS/server.pem" --tls-key "$TLS/server.key" --federation-ca "$TLS/ca.pem" \
    >"$WORK/hanse.log" 2>&1 &
HANSE_PID=$!
wait_for() {
    for _ in $(seq 120); do
        curl -fs "http://127.0.0.1:$1/_matrix/client/versions" >/dev/null && return 0
        kill -0 "$2" 2>/dev/null || break
        sleep 0.5
    done
    echo "the server on port $1 did not start; see the logs in $WORK" >&2
    exit 1
}
wait_for "$HANSE_CLIENT" "$HANSE_PID"
wait_for "$SYNAPSE_CLIENT" "$SYNAPSE_PID"
say "both up after $(($(date +%s) - started)) s"

# In the background, so that a signal reaches the trap at once (bash runs
# traps only between commands, not while waiting on one in the foreground).
python3 "$REPO/deploy/interop/synapse_federation.py" \
    --hanse "http://127.0.0.1:$HANSE_CLIENT" --hanse-name "$HANSE_NAME" \
    --synapse "http://127.0.0.1:$SYNAPSE_CLIENT" --synapse-name "$SYNAPSE_NAME" \
    --room-versions $ROOM_VERSIONS &
DRIVER_PID=$!
status=0
wait "$DRIVER_PID" || status=$?
DRIVER_PID=
say "took $(($(date +%s) - started)) s"
if [ "$status" = 0 ]; then
    echo PASS
else
    echo "FAIL (logs: $WORK/hanse.log, $SYN/homeserver.log)"
fi
exit "$status"
