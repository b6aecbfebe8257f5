#!/usr/bin/env bash
# Run a single-node Apache Kafka (KRaft, combined broker + controller) in the foreground.
#
# Usage: scripts/kafka-broker.sh DIR PORT CONTROLLER_PORT [EXTRA_PROPERTIES_FILE]
#
# DIR holds server.properties, the log directory (DIR/data) and log4j2 settings. The log
# directory is formatted on the first start only, so a restart on the same DIR keeps every
# topic (the fault tests kill -9 the broker and start it again). Keys in EXTRA_PROPERTIES_FILE
# override the defaults below (later keys win), e.g. a SASL_SSL listener; extra arguments for the
# storage tool (e.g. --add-scram 'SCRAM-SHA-512=[name=u,password=p]') come from KAFKA_FORMAT_ARGS,
# one per line. The process execs java: its PID is the broker's, SIGTERM stops it cleanly.
# Readiness: the client port accepts connections only once the broker is unfenced.
# Background start with a pidfile: scripts/start-kafka.sh. Install: scripts/install-kafka.sh.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LIBS="$REPO_ROOT/.tools/kafka/libs"
die() { echo "kafka-broker: error: $*" >&2; exit 1; }

[[ $# -ge 3 ]] || die "usage: $0 DIR PORT CONTROLLER_PORT [EXTRA_PROPERTIES_FILE]"
DIR="$1"; PORT="$2"; CPORT="$3"; EXTRA="${4:-}"
[[ -d "$LIBS" ]] || die "$LIBS is missing: run scripts/install-kafka.sh"
mkdir -p "$DIR/data"
DIR="$(cd "$DIR" && pwd)"

cat >"$DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
log.dirs=$DIR/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=4194304
log.cleaner.backoff.ms=1000
auto.create.topics.enable=false
message.max.bytes=4194304
PROPS
if [[ -n "$EXTRA" ]]; then
    [[ -f "$EXTRA" ]] || die "extra properties file $EXTRA not found"
    { echo; echo "# from $EXTRA"; cat "$EXTRA"; } >>"$DIR/server.properties"
fi

cat >"$DIR/log4j2.properties" <<'L4J'
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c{1})%n
rootLogger.level = warn
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka.server.KafkaRaftServer
logger.kafka.level = info
logger.broker.name = kafka.server.BrokerServer
logger.broker.level = info
L4J

CP="$LIBS/*"
JAVA_OPTS=(-Xms256m -Xmx1g -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError
           -Djava.awt.headless=true -Dlog4j2.configurationFile="$DIR/log4j2.properties")

if [[ ! -f "$DIR/data/meta.properties" ]]; then
    cluster_id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | cut -c1-22)"
    fmt_args=()
    if [[ -n "${KAFKA_FORMAT_ARGS:-}" ]]; then
        while IFS= read -r a; do [[ -n "$a" ]] && fmt_args+=("$a"); done <<<"$KAFKA_FORMAT_ARGS"
    fi
    java "${JAVA_OPTS[@]}" -cp "$CP" kafka.tools.StorageTool format --cluster-id="$cluster_id" \
        -c "$DIR/server.properties" --ignore-formatted "${fmt_args[@]}" >"$DIR/format.log" 2>&1 \
        || { cat "$DIR/format.log" >&2; die "formatting $DIR/data failed"; }
fi

exec java "${JAVA_OPTS[@]}" -cp "$CP" kafka.Kafka "$DIR/server.properties"
