#!/usr/bin/env bash
# A throwaway PostgreSQL on loopback for the benchmark (initdb in DIR as an unprivileged
# user, PostgreSQL's default durability: fsync and synchronous_commit on, so every
# replay record commit waits for the disk as it would in production). Prints its URL;
# leaves DIR/stop.sh.
#   bench/postgres.sh DIR PORT
set -euo pipefail
D=$1; PORT=$2; U=ahdapa-pgtest
id "$U" >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin "$U"
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$BIN" ] || BIN=/usr/bin
mkdir -p "$D"; chown "$U" "$D"
runuser -u "$U" -- "$BIN/initdb" -D "$D/data" -A trust -U postgres >"$D/initdb.log" 2>&1
runuser -u "$U" -- "$BIN/pg_ctl" -D "$D/data" -o "-p $PORT -k $D -c listen_addresses=127.0.0.1 -c max_connections=200" -l "$D/log" -w start >/dev/null
printf '#!/bin/sh\nrunuser -u %s -- "%s/pg_ctl" -D "%s/data" -m fast -w stop >/dev/null 2>&1\n' "$U" "$BIN" "$D" > "$D/stop.sh"
chmod +x "$D/stop.sh"
"$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE DATABASE ahdapa" >/dev/null
echo "postgres://postgres@127.0.0.1:$PORT/ahdapa"
