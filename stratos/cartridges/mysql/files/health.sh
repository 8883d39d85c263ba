#!/bin/bash
# Healthy when the server answers (as root over the socket: no failed-login noise in the log) and
# listens on TCP 3306, which only the final server does, not the one used during initialisation.
# The listen check reads /proc rather than connecting, since a bare connect is logged as aborted.
mariadb-admin --silent --connect-timeout=2 ping >/dev/null 2>&1 || exit 1
grep -qE '^ *[0-9]+: [0-9A-F]+:0CEA [0-9A-F]+:0000 0A ' /proc/net/tcp /proc/net/tcp6 2>/dev/null
