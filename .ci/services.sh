#!/usr/bin/env bash
# Start PostgreSQL and MariaDB if they are not answering (this machine kind starts them at boot;
# the same commands bring back one that stopped). Fails if one cannot be started.
set -uo pipefail

wait_for() {  # name, check command
  for _ in $(seq 1 60); do
    if eval "$2" >/dev/null 2>&1; then echo "$1 is up"; return 0; fi
    sleep 1
  done
  echo "$1 did not come up" >&2
  return 1
}

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
wait_for PostgreSQL "pg_isready -h 127.0.0.1 -p 5432 -q" || exit 1

if ! mysqladmin -uroot -h127.0.0.1 -P3306 ping >/dev/null 2>&1; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
wait_for MariaDB "mysqladmin -uroot -h127.0.0.1 -P3306 ping" || exit 1
mysql -uroot -h127.0.0.1 -P3306 -e "CREATE DATABASE IF NOT EXISTS test" || exit 1
psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" || exit 1

# Redis (online feature store, streaming), NATS JetStream, RabbitMQ (streaming): started the same way when down.
port_open() { bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting Redis"
  redis-server --port 6379 --bind 127.0.0.1 --daemonize yes --save '' --appendonly no || true
fi
wait_for Redis "redis-cli -h 127.0.0.1 -p 6379 ping" || exit 1
if ! port_open 4222; then
  echo "starting NATS JetStream"
  mkdir -p /var/lib/nats-server
  (nats-server -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log &) || true
fi
wait_for NATS "port_open 4222" || exit 1
if ! port_open 5672; then
  echo "starting RabbitMQ"
  rabbitmq-server -detached || true
fi
wait_for RabbitMQ "port_open 5672" || exit 1
