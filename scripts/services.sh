#!/usr/bin/env bash
# Makes sure RabbitMQ and PostgreSQL are up on this machine: starts them when they are
# installed but down, installs RabbitMQ when it is missing (Debian). Idempotent.
set -euo pipefail

log() { echo "[services] $*" >&2; }

ensure_rabbitmq() {
  if (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then return 0; fi
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    log "rabbitmq-server missing: installing it with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server
  fi
  if ! rabbitmqctl -q status >/dev/null 2>&1; then
    log "starting RabbitMQ"
    rabbitmq-server -detached || true
  else
    # the node runs but the app may have been stopped (rabbitmqctl stop_app)
    rabbitmqctl -q start_app >/dev/null 2>&1 || true
  fi
  rabbitmqctl -q await_startup --timeout 120 >/dev/null 2>&1 || rabbitmqctl await_startup
  for _ in $(seq 1 60); do
    (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && return 0
    sleep 1
  done
  log "RabbitMQ did not open port 5672"; return 1
}

ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return 0; fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "PostgreSQL is not installed: PostgreSQL tests will be skipped"; return 0
  fi
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p 5432 && return 0
    sleep 1
  done
  log "PostgreSQL did not come up"; return 1
}

case "${1:-all}" in
  rabbitmq) ensure_rabbitmq ;;
  postgres) ensure_postgres ;;
  all) ensure_rabbitmq; ensure_postgres ;;
esac
