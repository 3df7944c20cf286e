#!/usr/bin/env bash
# Makes sure RabbitMQ and PostgreSQL are up on this machine: starts them when they are
# installed but down, installs RabbitMQ when it is missing (Debian), and creates the
# PostgreSQL role and database the tests use (sagabus/sagabus, as in docker-compose.yml).
# Fails with one line when PostgreSQL is neither running nor installed. Idempotent.
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

postgres_answers() {
  pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
}

ensure_postgres() {
  if ! postgres_answers; then
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
      log "PostgreSQL is not installed and nothing answers on 127.0.0.1:5432: install it (apt-get install postgresql) or run \`docker compose up -d postgres\`"
      return 1
    fi
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    local up=0
    for _ in $(seq 1 60); do
      if pg_isready -q -h 127.0.0.1 -p 5432; then up=1; break; fi
      sleep 1
    done
    if [ "$up" != 1 ]; then log "PostgreSQL did not come up on 127.0.0.1:5432"; return 1; fi
  fi
  ensure_test_database
}

# psql as the superuser: over TCP as `postgres` (trust), else over the socket as the
# postgres system user (peer).
as_superuser() {
  if psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
    psql -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 -Atq "$@"
  else
    su postgres -c "psql -d postgres -v ON_ERROR_STOP=1 -Atq $(printf '%q ' "$@")"
  fi
}

# The role and database the tests use (and docker-compose.yml creates): sagabus/sagabus.
ensure_test_database() {
  if ! command -v psql >/dev/null 2>&1; then
    log "psql is not installed: cannot check the sagabus role and database (the tests check them when they start)"
    return 0
  fi
  if PGPASSWORD=sagabus psql -h 127.0.0.1 -U sagabus -d sagabus -Atqc 'select 1' >/dev/null 2>&1; then
    return 0
  fi
  if ! as_superuser -c 'select 1' >/dev/null 2>&1; then
    log "PostgreSQL answers but no superuser can log in to create the sagabus role and database: create them yourself (see docker-compose.yml)"
    return 1
  fi
  if [ "$(as_superuser -c "select 1 from pg_roles where rolname = 'sagabus'")" != 1 ]; then
    log "creating PostgreSQL role sagabus"
    as_superuser -c "create role sagabus login password 'sagabus'" >/dev/null
  fi
  if [ "$(as_superuser -c "select 1 from pg_database where datname = 'sagabus'")" != 1 ]; then
    log "creating PostgreSQL database sagabus"
    as_superuser -c "create database sagabus owner sagabus" >/dev/null
  fi
}

case "${1:-all}" in
  rabbitmq) ensure_rabbitmq ;;
  postgres) ensure_postgres ;;
  all) ensure_rabbitmq; ensure_postgres ;;
esac
