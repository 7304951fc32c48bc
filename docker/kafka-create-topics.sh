#!/usr/bin/env bash
# Create the pipelines' Kafka topics (idempotent), then exit. Runs once in the apache/kafka
# image (docker-compose service kafka-init) after the broker is healthy.
#
# Environment:
#   BOOTSTRAP      broker to talk to                       (default kafka:9092)
#   TOPICS         "name:partitions ..." to create          (default below)
#   REPLICATION    replication factor                       (default 1: one broker)
#   RETENTION_MS   retention of the topics                  (default 7 days)
#   KAFKA_HOME     where the Kafka scripts are              (default /opt/kafka)
# Variables named KAFKA_* are avoided on purpose: the gust tasks turn every KAFKA_* variable
# into a librdkafka property, and the same names here would be confusing.
set -euo pipefail

bootstrap=${BOOTSTRAP:-kafka:9092}
topics=${TOPICS:-all_data:6 users_created:3 recent_changes:3}
replication=${REPLICATION:-1}
retention_ms=${RETENTION_MS:-604800000}
topics_sh=${KAFKA_HOME:-/opt/kafka}/bin/kafka-topics.sh

# The broker's healthcheck already passed (depends_on: service_healthy); still wait a bounded
# time for the admin API, so a slow controller election does not fail the init.
deadline=$((SECONDS + 120))
until "$topics_sh" --bootstrap-server "$bootstrap" --list >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "kafka-init: broker $bootstrap not reachable after 120 s" >&2
        exit 1
    fi
    sleep 2
done

for spec in $topics; do
    name=${spec%%:*}
    partitions=${spec#*:}
    [ "$partitions" = "$spec" ] && partitions=3
    "$topics_sh" --bootstrap-server "$bootstrap" --create --if-not-exists \
        --topic "$name" --partitions "$partitions" --replication-factor "$replication" \
        --config "retention.ms=$retention_ms"
    echo "kafka-init: topic $name ($partitions partitions) ready"
done
"$topics_sh" --bootstrap-server "$bootstrap" --describe | grep -E '^Topic:' || true
