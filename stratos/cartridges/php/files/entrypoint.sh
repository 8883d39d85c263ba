#!/bin/bash
# Stratos PHP cartridge entrypoint.
#
# Apache runs with an EMPTY process environment, so nothing reaches PHP by accident. Instead:
#  - variables whose names start with a prefix in STRATOS_PHP_ENV_PREFIXES (default
#    "DB_ STRATOS_ APP_ PHP_") are passed with SetEnv, so getenv('DB_HOST') works under mod_php;
#  - such variables that look secret (PASSWORD, PASSWD, SECRET, TOKEN, PRIVATE, _KEY) are not
#    passed; their value goes to a 0400 file readable by www-data and <NAME>_FILE names it;
#  - secret files mounted at /run/stratos/secrets/<name> (root-only) are copied to
#    /run/stratos/php-secrets/<name> (0400, www-data), and STRATOS_SECRETS_DIR names that
#    directory; a passed *_FILE variable pointing into /run/stratos/secrets is rewritten to the copy.
set -euo pipefail

if [[ $# -gt 0 && "$1" != apache2-foreground ]]; then
    exec "$@"
fi

SECRETS_IN=/run/stratos/secrets
SECRETS_OUT=/run/stratos/php-secrets
CONF_DIR=/run/stratos/apache
CONF="$CONF_DIR/env.conf"
PREFIXES="${STRATOS_PHP_ENV_PREFIXES:-DB_ STRATOS_ APP_ PHP_}"
SECRET_NAME='(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE|_KEY$)'

set +u  # envvars reads variables it does not define
. /etc/apache2/envvars
set -u
install -d -m 0755 "$CONF_DIR" "$APACHE_RUN_DIR" "$APACHE_LOCK_DIR" "$APACHE_LOG_DIR"
rm -rf "$SECRETS_OUT"
install -d -m 0500 -o "$APACHE_RUN_USER" -g "$APACHE_RUN_GROUP" "$SECRETS_OUT" "$SECRETS_OUT/env"

quote() {  # an Apache config string: only the double quote has an escape (\")
    printf '"%s"' "${1//\"/\\\"}"
}

write_secret() {  # name value-file-or-stdin: a 0400 file only www-data reads
    install -m 0400 -o "$APACHE_RUN_USER" -g "$APACHE_RUN_GROUP" /dev/stdin "$1"
}

tmp="$(mktemp "$CONF_DIR/.env.XXXXXX")"
echo "# Written by stratos-php-entrypoint at $(date -u +%FT%TZ); do not edit." >"$tmp"

if [[ -d "$SECRETS_IN" ]]; then
    for f in "$SECRETS_IN"/*; do
        [[ -f "$f" ]] || continue
        write_secret "$SECRETS_OUT/$(basename "$f")" <"$f"
    done
    echo "SetEnv STRATOS_SECRETS_DIR $SECRETS_OUT" >>"$tmp"
fi

while IFS= read -r -d '' entry; do
    name=${entry%%=*}
    value=${entry#*=}
    [[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
    [[ "$name" == STRATOS_SECRETS_DIR ]] && continue
    passed=0
    for prefix in $PREFIXES; do
        [[ "$name" == "$prefix"* ]] && passed=1 && break
    done
    [[ $passed -eq 1 ]] || continue
    if [[ "$name" != *_FILE && "${name^^}" =~ $SECRET_NAME ]]; then
        printf '%s' "$value" | write_secret "$SECRETS_OUT/env/$name"
        echo "SetEnv ${name}_FILE $SECRETS_OUT/env/$name" >>"$tmp"
        continue
    fi
    if [[ "$name" == *_FILE && "$value" == "$SECRETS_IN"/* ]]; then
        value="$SECRETS_OUT/${value#"$SECRETS_IN"/}"
    fi
    if [[ "$value" == *$'\n'* || "$value" == *\\ ]]; then
        echo "stratos-php-entrypoint: $name spans lines or ends in a backslash; not passed" >&2
        continue
    fi
    echo "SetEnv $name $(quote "$value")" >>"$tmp"
done < <(env -0)

chmod 0644 "$tmp"
mv -f "$tmp" "$CONF"

# Apache replaces this shell (PID 1 gets the stop signal) and starts with only what envvars sets.
exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    /bin/sh -c '. /etc/apache2/envvars && exec /usr/sbin/apache2 -DFOREGROUND'
