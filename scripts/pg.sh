#!/usr/bin/env bash
# scripts/pg.sh: a private Postgres 15 instance for development and tests.
#
#   scripts/pg.sh init     initdb (role and database "sluice"), do not leave it running
#   scripts/pg.sh start    init if needed, start, wait until it accepts connections
#   scripts/pg.sh stop     fast shutdown (ok when not running)
#   scripts/pg.sh status   exit 0 when running, 3 when not
#   scripts/pg.sh psql [ARGS...]   psql on the sluice database
#   scripts/pg.sh url      print the connection URL
#
# Environment:
#   SLUICE_PG_DIR    instance folder (default <repo>/.sluice/pg): data/ and postgres.log
#   SLUICE_PG_PORT   TCP port on 127.0.0.1 (default 55432)
#   SLUICE_PG_FAST=1 tests only: start with fsync, synchronous_commit and
#                    full_page_writes off (never the dev-stack default)
#   SLUICE_PG_BIN    Postgres binaries (default /usr/lib/postgresql/15/bin)
#   SLUICE_PG_TEMPLATE=DATA  tests only: `start` of an instance not yet initialized
#                    copies this stopped cluster's data directory (initialized and
#                    migrated once, tests/integration/lib.sh) instead of running initdb
#
# Listens on 127.0.0.1 only, trust auth for local sockets and 127.0.0.1 (a private,
# throwaway instance: never expose it).  As root, the server runs as the `postgres`
# user (initdb refuses root); as anyone else, as that user.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=${SLUICE_PG_BIN:-/usr/lib/postgresql/15/bin}
DIR=${SLUICE_PG_DIR:-$root/.sluice/pg}
PORT=${SLUICE_PG_PORT:-55432}
DATA=$DIR/data
LOGFILE=$DIR/postgres.log
ROLE=sluice
DB=sluice

die() { echo "pg.sh: $*" >&2; exit 1; }

case "$PORT" in
''|*[!0-9]*) die "SLUICE_PG_PORT must be a port number, not '$PORT'" ;;
esac
[ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] || die "SLUICE_PG_PORT $PORT is out of range"
[ -x "$PGBIN/pg_ctl" ] || die "no Postgres binaries in $PGBIN (apt-get install postgresql-15, or set SLUICE_PG_BIN)"
case "$DIR" in /*) ;; *) DIR=$(pwd)/$DIR; DATA=$DIR/data; LOGFILE=$DIR/postgres.log ;; esac

# Run a server-side command as the instance owner.
if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' user to own the server"
        as_owner() { runuser -u postgres -- "$@"; }
else
        as_owner() { "$@"; }
fi

pg_ctl_() { as_owner "$PGBIN/pg_ctl" -D "$DATA" "$@"; }

is_running() { pg_ctl_ status >/dev/null 2>&1; }

is_initialized() { [ -f "$DATA/PG_VERSION" ]; }

client() { # client PROGRAM ARGS...: a client program against the instance over TCP
        local prog=$1
        shift
        PGCONNECT_TIMEOUT=5 "$PGBIN/$prog" -h 127.0.0.1 -p "$PORT" "$@"
}

# Make every ancestor of $DIR searchable by the postgres user (root only).
ensure_traversable() {
        local d=$DIR
        while [ "$d" != / ] && [ -n "$d" ]; do
                d=$(dirname "$d")
                if ! runuser -u postgres -- test -x "$d" 2>/dev/null; then
                        echo "pg.sh: making $d searchable (o+x) so the postgres user can reach $DIR" >&2
                        chmod o+x "$d" || die "cannot make $d searchable for the postgres user"
                fi
        done
}

start_server() { # start_server: pg_ctl start with the runtime options, wait
        local opts="-p $PORT"
        if [ "${SLUICE_PG_FAST:-0}" = 1 ]; then
                opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        fi
        if ! pg_ctl_ start -w -t 60 -l "$LOGFILE" -o "$opts" >/dev/null; then
                echo "pg.sh: Postgres failed to start on port $PORT; last lines of $LOGFILE:" >&2
                tail -n 15 "$LOGFILE" >&2 2>/dev/null || true
                exit 1
        fi
}

do_init() {
        if is_initialized; then
                echo "pg.sh: $DATA is already initialized" >&2
                return 0
        fi
        if [ -d "$DATA" ] && [ -n "$(ls -A "$DATA" 2>/dev/null)" ]; then
                die "$DATA exists, is not empty and holds no cluster; remove it or choose another SLUICE_PG_DIR"
        fi
        mkdir -p "$DIR" || die "cannot create $DIR"
        if [ "$(id -u)" = 0 ]; then
                chown postgres: "$DIR" || die "cannot chown $DIR to postgres"
                ensure_traversable
        fi
        echo "pg.sh: initdb $DATA" >&2
        if ! as_owner "$PGBIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 \
                --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1; then
                cat "$DIR/initdb.log" >&2
                die "initdb failed (log above, also in $DIR/initdb.log)"
        fi
        # The socket lives in the data dir unless the path is too long for sun_path.
        local sockdir=$DATA
        if [ $((${#DATA} + 20)) -gt 100 ]; then
                echo "pg.sh: $DATA is too long for a Unix socket path; TCP only" >&2
                sockdir=
        fi
        as_owner tee -a "$DATA/postgresql.conf" >/dev/null <<EOF

# --- sluice private instance (scripts/pg.sh) ---
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$sockdir'
shared_buffers = 256MB
max_connections = 200
max_locks_per_transaction = 256
# Bulk COPY writes a lot of WAL: fewer checkpoints mean fewer full-page images.
# Still durable (fsync stays on unless SLUICE_PG_FAST=1).
max_wal_size = 8GB
checkpoint_timeout = 30min
wal_buffers = 64MB
wal_compression = lz4
maintenance_work_mem = 256MB
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
EOF
        as_owner tee "$DATA/pg_hba.conf" >/dev/null <<EOF
# sluice private instance: trust, local socket and loopback only.
local   all  all                 trust
host    all  all  127.0.0.1/32   trust
EOF
        start_server
        client psql -XAtq -v ON_ERROR_STOP=1 -U postgres -d postgres \
                -c "CREATE ROLE $ROLE LOGIN SUPERUSER" \
                -c "CREATE DATABASE $DB OWNER $ROLE" >/dev/null ||
                die "creating role and database '$ROLE' failed"
        echo "pg.sh: initialized $DATA (role and database '$DB')" >&2
}

# A copy of the stopped cluster in $SLUICE_PG_TEMPLATE, with this instance's socket
# directory (the port is given at start).
do_clone() {
        local tpl=$SLUICE_PG_TEMPLATE sockdir=$DATA
        [ -f "$tpl/PG_VERSION" ] || die "SLUICE_PG_TEMPLATE $tpl holds no cluster"
        mkdir -p "$DIR" || die "cannot create $DIR"
        if [ "$(id -u)" = 0 ]; then
                chown postgres: "$DIR" || die "cannot chown $DIR to postgres"
                ensure_traversable
        fi
        as_owner cp -a "$tpl" "$DATA" || die "cannot copy $tpl to $DATA"
        as_owner rm -f "$DATA/postmaster.pid" "$DATA/postmaster.opts"
        [ $((${#DATA} + 20)) -gt 100 ] && sockdir=
        printf "\n# --- copied from %s ---\nport = %s\nunix_socket_directories = '%s'\n" \
                "$tpl" "$PORT" "$sockdir" | as_owner tee -a "$DATA/postgresql.conf" >/dev/null
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
init)
        if is_initialized; then
                echo "pg.sh: $DATA is already initialized" >&2
                exit 0
        fi
        do_init
        pg_ctl_ stop -m fast -w >/dev/null
        ;;
start)
        if is_initialized && is_running; then
                echo "pg.sh: already running ($DATA, port $PORT)" >&2
                exit 0
        fi
        if is_initialized; then
                start_server
        elif [ -n "${SLUICE_PG_TEMPLATE:-}" ]; then
                do_clone
                start_server
        else
                do_init # leaves it running
        fi
        echo "pg.sh: running on 127.0.0.1:$PORT ($DATA)" >&2
        ;;
stop)
        if ! is_initialized || ! is_running; then
                echo "pg.sh: not running ($DATA)" >&2
                exit 0
        fi
        pg_ctl_ stop -m fast -w -t 60 >/dev/null || die "pg_ctl stop failed (see $LOGFILE)"
        echo "pg.sh: stopped ($DATA)" >&2
        ;;
status)
        if is_initialized && is_running; then
                echo "running on 127.0.0.1:$PORT ($DATA)"
                exit 0
        fi
        if is_initialized; then echo "not running ($DATA)"; else echo "not initialized ($DATA)"; fi
        exit 3
        ;;
psql)
        export PGCONNECT_TIMEOUT=5
        exec psql -X -h 127.0.0.1 -p "$PORT" -U "$ROLE" -d "$DB" "$@"
        ;;
url)
        echo "postgresql://$ROLE@127.0.0.1:$PORT/$DB"
        ;;
''|-h|--help|help)
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
        [ -n "$cmd" ] || exit 2
        ;;
*)
        die "unknown command '$cmd' (init|start|stop|status|psql|url)"
        ;;
esac
