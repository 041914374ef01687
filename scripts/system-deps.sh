#!/usr/bin/env bash
# System packages the test suite uses for real components: PostgreSQL (run store and JDBC source),
# its JDBC driver for Spark, and Chromium (report and JupyterLab browser tests).
# Installs what is missing when it can (root + apt-get); otherwise prints the exact command.
set -u
missing=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -f /usr/share/java/postgresql.jar ] || missing+=(libpostgresql-jdbc-java)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}") >/tmp/nbpipe-apt.log 2>&1 \
    || { echo "error: '$cmd' failed; see /tmp/nbpipe-apt.log" >&2; exit 1; }
else
  echo "error: missing system packages: ${missing[*]}" >&2
  echo "  fix: sudo sh -c '$cmd'" >&2
  exit 1
fi
