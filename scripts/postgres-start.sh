#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on loopback for the tests, as an unprivileged user, in a
# temporary folder. Prints the variables to export (eval "$(scripts/postgres-start.sh)").
# Installs Debian's postgresql first if no server binaries are found.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

port=${MESHKIT_PG_PORT:-55432}
user=postgres
id "$user" >/dev/null 2>&1 || useradd --system --no-create-home "$user"
data=$(mktemp -d /tmp/meshkit-pg.XXXXXX)
chown "$user" "$data"
as_user() { if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi; }

as_user "$bindir/initdb" -D "$data/db" -U meshkit --auth=trust -E UTF8 >/dev/null
as_user "$bindir/pg_ctl" -D "$data/db" -l "$data/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$data -c fsync=off" start >&2
as_user "$bindir/createdb" -h 127.0.0.1 -p "$port" -U meshkit jaffle

cat <<VARS
export MESHKIT_PG_HOST=127.0.0.1
export MESHKIT_PG_PORT=$port
export MESHKIT_PG_USER=meshkit
export MESHKIT_PG_PASSWORD=
export MESHKIT_PG_DBNAME=jaffle
export MESHKIT_PG_DATA=$data/db
export MESHKIT_PG_BIN=$bindir
VARS
