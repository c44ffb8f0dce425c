#!/usr/bin/env bash
# Flood comparison (issue 5): the same generator, the same machine, the same
# run, against a stock Mosquitto 2.0 (anonymous, no persistence) and against
# the dolbomd binary (auth, decoding, detection and the embedded store on;
# only the per-hub readings rate limit is raised, since a flood is by design
# a hub sending far beyond it), alternating in rounds.
#
#   scripts/flood-compare.sh [CONNS] [DURATION] [ROUNDS]     # defaults: 1000 20s 3
#   (ports: FLOOD_MOSQ_PORT, FLOOD_MQTT_PORT, FLOOD_HTTP_PORT; defaults 18830, 18831, 18088)
#
# Prints the flood's JSON report: each round's runs (Mosquitto, then
# dolbomd), the ratio of each round and the worst.
# Needs /usr/sbin/mosquitto (apt-get install mosquitto) and the binaries
# `make build` puts in ./bin. Figures go to docs/performance.md with this
# command.
set -euo pipefail

CONNS="${1:-1000}"
DURATION="${2:-20s}"
ROUNDS="${3:-3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$ROOT/bin"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dolbom-flood.XXXXXX")"
MOSQ_PORT="${FLOOD_MOSQ_PORT:-18830}"
MQTT_PORT="${FLOOD_MQTT_PORT:-18831}"
HTTP_PORT="${FLOOD_HTTP_PORT:-18088}"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

for b in dolbomd dolbom-sim; do
	[[ -x "$BIN/$b" ]] || { echo "flood-compare: $BIN/$b missing: run make build" >&2; exit 1; }
done
MOSQUITTO="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
[[ -x "$MOSQUITTO" ]] || { echo "flood-compare: mosquitto not installed (apt-get install mosquitto)" >&2; exit 1; }

wait_port() { # host port
	for _ in $(seq 1 200); do
		if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "flood-compare: nothing listens on $1:$2" >&2
	return 1
}

# The file-descriptor limit: 1,000 connections on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# 1. Mosquitto, as a bare broker: the window of 16 matches dolbomd's.
cat >"$WORK/mosquitto.conf" <<EOF
listener $MOSQ_PORT 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 16
max_queued_messages 1000
EOF
# Mosquitto refuses to run as root without a user to drop to.
if [[ $(id -u) -eq 0 ]]; then echo "user root" >>"$WORK/mosquitto.conf"; fi
"$MOSQUITTO" -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
pids+=($!)
wait_port 127.0.0.1 "$MOSQ_PORT"

# 2. dolbomd on its embedded store; hubs provisioned through the admin API.
# Its per-hub limits are raised explicitly: at 5 readings messages per
# second (burst 300) a flooding hub is refused and, after 50 silent
# refusals, disconnected, and the flood would measure the rate limiter.
# The flood counts refusals, rejects and disconnects and says when any
# happened (measures_broker: false).
TOKEN="flood-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
DOLBOM_ADMIN_TOKEN="$TOKEN" "$BIN/dolbomd" --data-dir "$WORK/data" \
	--mqtt-addr "127.0.0.1:$MQTT_PORT" --mqtt-tls-addr off --http-addr "127.0.0.1:$HTTP_PORT" --twilio fake \
	--readings-rate 1000000 --readings-burst 1000000 --log-level error >"$WORK/dolbomd.log" 2>&1 &
pids+=($!)
wait_port 127.0.0.1 "$HTTP_PORT"
wait_port 127.0.0.1 "$MQTT_PORT"

# 3. ROUNDS rounds, each Mosquitto then dolbomd with the same generator:
# the report's ratios are dolbomd msgs/s / Mosquitto msgs/s per round, and
# worst_ratio the lowest.
"$BIN/dolbom-sim" flood --baseline "127.0.0.1:$MOSQ_PORT" --target "127.0.0.1:$MQTT_PORT" \
	--server "http://127.0.0.1:$HTTP_PORT" --token "$TOKEN" \
	--rounds "$ROUNDS" --conns "$CONNS" --duration "$DURATION" --qos 1 --json
