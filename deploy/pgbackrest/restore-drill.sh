#!/usr/bin/env bash
# restore-drill.sh — prove that posd's backups restore.
#
# Restores the latest pgBackRest backup of the stanza, and every WAL segment
# archived after it, into a fresh Postgres cluster in a new directory on its
# own port (archiving off, reachable only over a Unix socket in that
# directory), then runs "posd audit verify" on every venue it finds there.
# The restored cluster is stopped and removed afterwards (DRILL_KEEP=1 keeps
# it). Run it as root (Postgres and pgBackRest then run as the postgres
# user) or as the user that owns the repository.
#
# Exit status: 0 when the restore worked and every venue verifies; 1 when a
# venue's journal does not verify; 2 when the restore itself failed.
#
# Environment:
#   POSD_SEAL_PUBLIC_KEY  the seal key's public half (required; "posd audit
#                         public-key" prints it; comma-separated after a
#                         rotation)
#   PGBACKREST_CONFIG     pgBackRest configuration (/etc/pgbackrest/pgbackrest.conf)
#   PGBACKREST_STANZA     stanza (posd)
#   POSD                  the posd binary (posd in PATH)
#   PG_BINDIR             PostgreSQL's programs (/usr/lib/postgresql/15/bin)
#   DRILL_DIR             where to restore; must not exist (a new directory under /var/tmp)
#   DRILL_PORT            the restored cluster's port (55432)
#   DRILL_SUPERUSER       the cluster's bootstrap superuser (postgres)
#   DRILL_TARGET_TIME     restore to this moment instead of the latest
#                         (e.g. "2026-12-04 23:00:00+00"; pgBackRest --type=time)
#   DRILL_KEEP            1: leave the restored cluster running (by hand only:
#                         under posd-restore-drill.service systemd stops it)
set -euo pipefail

say() { printf 'restore-drill: %s\n' "$*"; }
die() { say "FAILED: $*" >&2; exit 2; }
# Any other command that fails is the drill failing, not a verdict on a
# journal: exit 2 too.
trap 'die "line $LINENO: $BASH_COMMAND"' ERR

[ -n "${POSD_SEAL_PUBLIC_KEY:-}" ] || die "set POSD_SEAL_PUBLIC_KEY to the seal key's public half (posd audit public-key)"
PGBACKREST_CONFIG=${PGBACKREST_CONFIG:-/etc/pgbackrest/pgbackrest.conf}
PGBACKREST_STANZA=${PGBACKREST_STANZA:-posd}
POSD=${POSD:-posd}
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
DRILL_PORT=${DRILL_PORT:-55432}
DRILL_SUPERUSER=${DRILL_SUPERUSER:-postgres}
DRILL_KEEP=${DRILL_KEEP:-0}

# as_pg runs a command as the postgres user when we are root.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

command -v pgbackrest >/dev/null || die "pgbackrest not found (Debian: apt-get install pgbackrest)"
[ -x "$PG_BINDIR/pg_ctl" ] || die "$PG_BINDIR/pg_ctl not found (set PG_BINDIR)"
command -v "$POSD" >/dev/null || die "posd binary '$POSD' not found (set POSD)"
[ -r "$PGBACKREST_CONFIG" ] || die "cannot read $PGBACKREST_CONFIG (set PGBACKREST_CONFIG)"

if [ -z "${DRILL_DIR:-}" ]; then
  DRILL_DIR=$(mktemp -d /var/tmp/posd-restore-drill.XXXXXX)
else
  mkdir -m 0700 "$DRILL_DIR" || die "cannot create $DRILL_DIR (it must not exist: the drill restores into a new directory)"
fi
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$DRILL_DIR"; fi
PGDATA_DRILL=$DRILL_DIR/pgdata
started=0

cleanup() {
  if [ "$DRILL_KEEP" = 1 ] && [ "$started" = 1 ]; then
    say "left running: $PG_BINDIR/pg_ctl -D $PGDATA_DRILL stop; socket in $DRILL_DIR, port $DRILL_PORT"
    return
  fi
  if [ "$started" = 1 ]; then
    as_pg "$PG_BINDIR/pg_ctl" -D "$PGDATA_DRILL" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$DRILL_DIR"
}
trap cleanup EXIT

pgbr() { as_pg pgbackrest --config="$PGBACKREST_CONFIG" --stanza="$PGBACKREST_STANZA" "$@"; }

say "backups in the repository:"
pgbr info || die "pgbackrest info: is the stanza '$PGBACKREST_STANZA' created and the repository reachable?"

target=()
if [ -n "${DRILL_TARGET_TIME:-}" ]; then
  target=(--type=time "--target=$DRILL_TARGET_TIME" --target-action=promote)
fi
say "restoring into $PGDATA_DRILL ${DRILL_TARGET_TIME:+(to $DRILL_TARGET_TIME)}"
as_pg mkdir -m 0700 "$PGDATA_DRILL"
# --archive-mode=off: the restored cluster must never push WAL into the
# production repository.
pgbr --pg1-path="$PGDATA_DRILL" --archive-mode=off --log-level-console=warn "${target[@]}" restore ||
  die "pgbackrest restore"

# The drill's own settings, whatever the production postgresql.conf holds
# (Debian keeps it outside the data directory): a local socket only, no
# archiving, no hot standby (so recovery runs to the end before anyone
# connects, with no parameter checks against the primary's settings).
as_pg tee "$DRILL_DIR/postgresql.conf" >/dev/null <<EOF
port = $DRILL_PORT
listen_addresses = ''
unix_socket_directories = '$DRILL_DIR'
hba_file = '$DRILL_DIR/pg_hba.conf'
ident_file = '$DRILL_DIR/pg_ident.conf'
archive_mode = off
hot_standby = off
max_connections = 20
shared_buffers = 128MB
EOF
as_pg tee "$DRILL_DIR/pg_hba.conf" >/dev/null <<EOF
local all all trust
EOF
as_pg touch "$DRILL_DIR/pg_ident.conf"

say "replaying the archived WAL and starting the restored cluster on port $DRILL_PORT"
started=1
as_pg "$PG_BINDIR/pg_ctl" -D "$PGDATA_DRILL" -l "$DRILL_DIR/postgres.log" -w -t 3600 \
  -o "-c config_file=$DRILL_DIR/postgresql.conf" start >/dev/null ||
  die "the restored cluster did not start; its log: $(tail -n 20 "$DRILL_DIR/postgres.log" 2>/dev/null)"
# pg_ctl returns once the server runs; it accepts connections only when the
# replay is over and it has promoted itself.
until "$PG_BINDIR/pg_isready" -q -h "$DRILL_DIR" -p "$DRILL_PORT"; do
  as_pg "$PG_BINDIR/pg_ctl" -D "$PGDATA_DRILL" status >/dev/null ||
    die "the restored cluster stopped during recovery; its log: $(tail -n 20 "$DRILL_DIR/postgres.log" 2>/dev/null)"
  sleep 1
done
grep -E "redo done|archive recovery complete|last completed transaction|recovery stopping" "$DRILL_DIR/postgres.log" |
  sed 's/^/restore-drill: postgres: /' || true

export DATABASE_URL="postgres://$DRILL_SUPERUSER@/posd?host=$DRILL_DIR&port=$DRILL_PORT&sslmode=disable"
unset DATABASE_REPLICA_URL
venues=$("$POSD" venue list | awk 'NR > 1 { print $1 }') || die "posd venue list on the restored database"
[ -n "$venues" ] || die "the restored database has no venues"

# A restore ends at the last archived WAL segment: seals written after it
# are not there, so the tail may be unsealed. --seal-grace 0 leaves out the
# unsealed-age check; every seal that is there is checked with the key.
failed=0
for v in $venues; do
  if out=$("$POSD" audit verify --venue "$v" --public-key "$POSD_SEAL_PUBLIC_KEY" --seal-grace 0 2>&1); then
    say "$(head -n 1 <<<"$out")"
  else
    say "venue $v does NOT verify:"
    printf '%s\n' "$out" | sed 's/^/restore-drill:   /'
    failed=1
  fi
done
if [ "$failed" -ne 0 ]; then
  say "FAILED: the restored journal does not verify"
  exit 1
fi
say "ok: restored and verified $(wc -w <<<"$venues") venues"
