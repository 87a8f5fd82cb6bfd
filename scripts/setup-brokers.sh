#!/usr/bin/env bash
# Makes sure the message brokers the stream tests use are there: mosquitto and nats-server
# (tests start their own on loopback ports, so only the binaries are needed) and RabbitMQ,
# which is too slow to start per test and so must answer on 127.0.0.1:5672 (guest/guest).
# Missing packages are installed from Debian's archive (as root) and RabbitMQ is started.
# Idempotent: a second run only checks.
set -euo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-brokers: $1; run this script as root to install and start it" >&2
    exit 1
  fi
}

apt_install() {
  if [ -z "${WEIR_APT_UPDATED:-}" ]; then
    apt-get update -qq
    export WEIR_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [ ! -x /usr/sbin/mosquitto ]; then
  need_root "mosquitto is not installed"
  apt_install mosquitto
fi

if [ ! -x /usr/sbin/nats-server ] && ! command -v nats-server >/dev/null; then
  need_root "nats-server is not installed"
  apt_install nats-server
fi

if ! up 5672; then
  if [ ! -x /usr/sbin/rabbitmq-server ]; then
    need_root "RabbitMQ is not installed"
    # Installing starts the service where the system can (systemd or init scripts).
    apt_install rabbitmq-server
  fi
  if ! up 5672; then
    need_root "RabbitMQ is not answering on 127.0.0.1:5672"
    service rabbitmq-server start >/dev/null 2>&1 || /usr/sbin/rabbitmq-server -detached >/dev/null 2>&1 || true
  fi
  # RabbitMQ takes a while to boot (Erlang VM, then the broker's own start-up).
  for _ in $(seq 1 300); do up 5672 && break; sleep 0.2; done
  if ! up 5672; then
    echo "setup-brokers: RabbitMQ did not come up on 127.0.0.1:5672" >&2
    exit 1
  fi
fi

echo "setup-brokers: mosquitto and nats-server installed; RabbitMQ answers on 127.0.0.1:5672"
