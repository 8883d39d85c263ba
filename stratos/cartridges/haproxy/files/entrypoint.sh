#!/bin/sh
# Stratos HAProxy cartridge entrypoint: HAProxy in master-worker mode in the foreground, on the
# configuration the LB driver mounts (directory /usr/local/etc/stratos) or on the built-in default.
# SIGUSR2 to PID 1 reloads the configuration; the runtime API socket lives in /run/stratos-lb.
set -eu

if [ $# -gt 0 ] && [ "$1" != haproxy ]; then
    exec "$@"
fi

CONFIG=/usr/local/etc/stratos/haproxy.cfg
if [ ! -f "$CONFIG" ]; then
    echo "stratos-haproxy-entrypoint: $CONFIG not found; using the default configuration" >&2
    CONFIG=/etc/haproxy/stratos-default.cfg
fi
mkdir -p /run/stratos-lb /run/haproxy
haproxy -c -q -f "$CONFIG"
exec haproxy -W -db -f "$CONFIG"
