#!/bin/bash
# Stratos MySQL cartridge entrypoint.
#
# First start (no system tables in /var/lib/mysql): initialise the datadir, start the server
# without networking, create MYSQL_DATABASE and MYSQL_USER@'%' with the password read from the
# secret file /run/stratos/secrets/password (or MYSQL_PASSWORD_FILE), then stop it. The password
# only ever travels through a 0600 SQL file on stdin, never a command line (visible in ps).
# Every start: exec mysqld in the foreground on 0.0.0.0:3306.
set -euo pipefail

if [[ $# -gt 0 && "$1" != mysqld ]]; then
    exec "$@"
fi
shift || true

DATADIR=/var/lib/mysql
PASSWORD_FILE="${MYSQL_PASSWORD_FILE:-/run/stratos/secrets/password}"
INIT_SOCKET=/run/mysqld/init.sock
IN_PROGRESS="$DATADIR/.stratos-init-in-progress"

log() { echo "stratos-mysql-entrypoint: $*" >&2; }
die() { log "$*"; exit 1; }

install -d -o mysql -g mysql -m 0755 /run/mysqld
[[ -d "$DATADIR" ]] || install -d -o mysql -g mysql -m 0750 "$DATADIR"
if [[ "$(stat -c %U "$DATADIR")" != mysql ]]; then
    chown -R mysql:mysql "$DATADIR"
fi

if [[ -e "$IN_PROGRESS" ]]; then
    # A first start was interrupted: what is there was made by us and is incomplete.
    log "an earlier initialisation did not finish; starting it again"
    find "$DATADIR" -mindepth 1 -delete
fi

initialise() {
    local database="${MYSQL_DATABASE:-}" user="${MYSQL_USER:-}" password sql pid i
    [[ "$database" =~ ^[A-Za-z0-9_]{1,64}$ ]] || die "MYSQL_DATABASE ('$database') must be 1-64 of [A-Za-z0-9_]"
    [[ "$user" =~ ^[A-Za-z0-9_]{1,80}$ ]] || die "MYSQL_USER ('$user') must be 1-80 of [A-Za-z0-9_]"
    [[ -r "$PASSWORD_FILE" ]] || die "password file $PASSWORD_FILE is missing (mount the 'password' secret)"
    password="$(<"$PASSWORD_FILE")"  # bash builtin read: no process, no argv
    [[ -n "$password" ]] || die "password file $PASSWORD_FILE is empty"

    log "initialising $DATADIR (database '$database', user '$user')"
    touch "$IN_PROGRESS"
    mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db \
        --auth-root-authentication-method=socket >/dev/null

    mysqld --user=mysql --datadir="$DATADIR" --skip-networking --socket="$INIT_SOCKET" &
    pid=$!
    for i in $(seq 1 60); do
        mariadb-admin --socket="$INIT_SOCKET" --silent ping >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || die "the server stopped during initialisation"
        sleep 0.5
    done
    mariadb-admin --socket="$INIT_SOCKET" --silent ping >/dev/null 2>&1 || die "the server did not start in 30s"

    # SQL string literal: backslash and quote escaped.
    password="${password//\\/\\\\}"
    password="${password//\'/\\\'}"
    sql="$(mktemp /run/mysqld/init.XXXXXX.sql)"
    chmod 0600 "$sql"
    cat >"$sql" <<SQL
DELETE FROM mysql.global_priv WHERE User = '';
CREATE DATABASE IF NOT EXISTS \`$database\`;
CREATE USER IF NOT EXISTS '$user'@'%' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON \`$database\`.* TO '$user'@'%';
FLUSH PRIVILEGES;
SQL
    unset password
    mariadb --protocol=socket --socket="$INIT_SOCKET" -uroot <"$sql" || { rm -f "$sql"; die "creating the database and user failed"; }
    rm -f "$sql"

    mariadb-admin --socket="$INIT_SOCKET" shutdown
    wait "$pid" || true
    rm -f "$IN_PROGRESS"
    log "initialised"
}

if [[ ! -d "$DATADIR/mysql" ]]; then
    initialise
fi

exec mysqld --user=mysql "$@"
