#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests, on a free loopback port.
#   scripts/pg_cluster.sh start DIR   -> prints KEEL_TEST_PG_URL=...; data and log in DIR
#   scripts/pg_cluster.sh stop DIR
#   scripts/pg_cluster.sh restart DIR  -> an immediate restart (a crash, as far as the
#                                         server's clients can tell), same port
# initdb refuses to run as root, so as root the cluster runs as the 'postgres' user
# (created by the postgresql-15 package); otherwise as the current user.
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin
cmd=${1:?start|stop}
dir=${2:?DIR}
RUN=()
if [ "$(id -u)" -eq 0 ]; then RUN=(runuser -u postgres --); fi

case "$cmd" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  port=""
  for p in $(shuf -i 20000-60000 -n 50); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
  done
  [ -n "$port" ] || { echo "error: no free port found" >&2; exit 1; }
  pw="keel-test-pw"
  echo "$pw" > "$dir/pwfile"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir/pwfile"
  "${RUN[@]}" "$PGBIN/initdb" -D "$dir/data" -U keel --pwfile="$dir/pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  "${RUN[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$dir' \
          -c max_connections=200 -c synchronous_commit=on -c fsync=on \
          -c shared_buffers=256MB" >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
  "${RUN[@]}" "$PGBIN/psql" -h "$dir" -p "$port" -U keel -d postgres -qc "CREATE DATABASE keel" >/dev/null
  echo "KEEL_TEST_PG_URL=postgresql://keel:$pw@127.0.0.1:$port/keel"
  ;;
restart)
  "${RUN[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w -t 60 restart >/dev/null
  ;;
stop)
  if [ -d "$dir/data" ]; then
    "${RUN[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start|stop|restart DIR" >&2; exit 2 ;;
esac
