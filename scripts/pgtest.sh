#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for the store's tests.
#
#   scripts/pgtest.sh start   # creates and starts a cluster, prints
#                             # DOLBOM_TEST_DATABASE_URL=postgres://... on stdout
#   scripts/pgtest.sh stop    # stops it and deletes its files
#
# The cluster lives in a temporary directory named in $STATE (default
# ${TMPDIR:-/tmp}/dolbom-pgtest.state), listens on 127.0.0.1 on a free port
# with its unix socket in the same directory, and keeps fsync on, so that
# durability is tested as in production. DOLBOM_PGTEST_OPTS adds server
# settings for load runs, e.g. "-c shared_buffers=2GB -c max_wal_size=8GB". PostgreSQL refuses to run as root:
# as root the cluster is owned by the `postgres` OS user.
set -euo pipefail

STATE="${DOLBOM_PGTEST_STATE:-${TMPDIR:-/tmp}/dolbom-pgtest.state}"

log() { echo "pgtest: $*" >&2; }

find_bin() {
	local dir
	dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [[ -n "$dir" && -x "$dir/initdb" ]]; then
		echo "$dir"
		return 0
	fi
	if [[ $(id -u) -eq 0 ]]; then
		log "no PostgreSQL binaries found; installing with apt-get"
		DEBIAN_FRONTEND=noninteractive apt-get update >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
		dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
		if [[ -n "$dir" && -x "$dir/initdb" ]]; then
			echo "$dir"
			return 0
		fi
	fi
	log "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin."
	log "Install them, e.g.: sudo apt-get install -y postgresql"
	return 1
}

# as_owner runs a command as the cluster's owner.
as_owner() {
	if [[ $(id -u) -eq 0 ]]; then
		if command -v runuser >/dev/null; then
			runuser -u postgres -- "$@"
		else
			su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
		fi
	else
		"$@"
	fi
}

# free_port picks a port nobody listens on, below the kernel's ephemeral
# range: a port inside it can be the source port of any outgoing
# connection (the gateway tests open thousands), and then PostgreSQL's bind
# fails with "Address already in use" although nothing listens there.
free_port() {
	local port low=32768
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
	((low > 11000)) || low=32768
	for _ in $(seq 1 50); do
		port=$((10000 + RANDOM % (low - 10000)))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	log "no free port found"
	return 1
}

start() {
	if [[ -f "$STATE" ]]; then
		log "a cluster is already running ($(head -n 1 "$STATE")); run '$0 stop' first"
		exit 1
	fi
	local bin dir port user
	bin=$(find_bin)
	dir=$(mktemp -d "${TMPDIR:-/tmp}/dolbom-pg.XXXXXX")
	if [[ $(id -u) -eq 0 ]]; then
		id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
		chown postgres: "$dir"
		user=postgres
	else
		user=$(id -un)
	fi
	chmod 0700 "$dir"
	as_owner "$bin/initdb" -D "$dir/data" -U "$user" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
		as_owner "$bin/initdb" -D "$dir/data" -U "$user" --auth=trust --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1 || {
		cat "$dir/initdb.log" >&2
		exit 1
	}
	# A port free when picked can be taken before the server binds it
	# (another test's connection): try another, a few times.
	local attempt
	for attempt in 1 2 3 4 5; do
		port=$(free_port)
		if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
			-o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=on -c synchronous_commit=on -c max_connections=200 ${DOLBOM_PGTEST_OPTS:-}" \
			start >&2; then
			break
		fi
		if ((attempt == 5)) || ! grep -q "Address already in use" "$dir/server.log"; then
			cat "$dir/server.log" >&2
			exit 1
		fi
		log "port $port was taken before the server bound it; trying another"
		: >"$dir/server.log"
	done
	as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$user" dolbom_test >&2
	printf '%s\n%s\n%s\n' "$dir" "$bin" "$port" >"$STATE"
	echo "DOLBOM_TEST_DATABASE_URL=postgres://$user@127.0.0.1:$port/dolbom_test?sslmode=disable"
}

stop() {
	if [[ ! -f "$STATE" ]]; then
		log "no cluster running"
		return 0
	fi
	local dir bin
	dir=$(sed -n 1p "$STATE")
	bin=$(sed -n 2p "$STATE")
	as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
	rm -rf -- "$dir" "$STATE"
	log "stopped and deleted $dir"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
