#!/usr/bin/env bash
# Makes sure the databases the vision enricher's tests use answer on loopback: PostgreSQL
# (127.0.0.1:5432, user postgres, trust), MariaDB (127.0.0.1:3306, root, no password) and Redis
# (127.0.0.1:6379). Machines of this project's kind run all three; where one is missing it is
# installed from Debian's packages (as root) and started. Idempotent: a second run only checks.
set -euo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-services: $1 is not answering on 127.0.0.1:$2; start it (as root this script installs and starts it)" >&2
    exit 1
  fi
}

apt_install() {
  if [ -z "${WEIR_APT_UPDATED:-}" ]; then
    apt-get update -qq
    export WEIR_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_port() { # PORT NAME
  for _ in $(seq 1 100); do up "$1" && return 0; sleep 0.2; done
  echo "setup-services: $2 did not come up on 127.0.0.1:$1" >&2
  exit 1
}

if ! up 5432; then
  need_root PostgreSQL 5432
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  version="$(ls /etc/postgresql | sort -V | tail -n 1)"
  conf="/etc/postgresql/$version/main"
  # Tests connect as postgres over TCP without a password, as on this project's machines.
  if ! grep -q "weir-tests" "$conf/pg_hba.conf"; then
    sed -i '1i host all all 127.0.0.1/32 trust # weir-tests\nhost all all ::1/128 trust # weir-tests' "$conf/pg_hba.conf"
  fi
  pg_ctlcluster "$version" main start || service postgresql start
  wait_port 5432 PostgreSQL
fi

if ! up 3306; then
  need_root MariaDB 3306
  command -v mariadbd >/dev/null || command -v mysqld >/dev/null || apt_install mariadb-server
  (service mariadb start || service mysql start) >/dev/null
  wait_port 3306 MariaDB
  # root over TCP with an empty password, as on this project's machines.
  mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;" 2>/dev/null || true
fi

if ! up 6379; then
  need_root Redis 6379
  command -v redis-server >/dev/null || apt_install redis-server
  redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes >/dev/null
  wait_port 6379 Redis
fi

echo "setup-services: PostgreSQL, MariaDB and Redis answer on 127.0.0.1"
