#!/usr/bin/env bash
# Install Apache Kafka (a broker: kafka.Kafka + the storage tool) from Maven Central into
# <repo>/.tools/kafka/libs, with a logging binding (the POM declares none) and the perf tools.
#
# No tarball and no Docker: a small POM lists org.apache.kafka:kafka_2.13 and kafka-tools, and
# `mvn dependency:copy-dependencies` collects the runtime jars. Run the broker with
# scripts/start-kafka.sh. Idempotent: does nothing when the jars of this version are in place.
#
# Environment:
#   KAFKA_VERSION   default 4.1.1
#   MVN             maven command (default: mvn)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
LOG4J_VERSION="2.24.3"
DIR="$REPO_ROOT/.tools/kafka"
LIBS="$DIR/libs"
STAMP="$DIR/installed-$KAFKA_VERSION"
MVN="${MVN:-mvn}"

die() { echo "install-kafka: error: $*" >&2; exit 1; }

[[ -f "$STAMP" ]] && exit 0

command -v java >/dev/null 2>&1 || die "java not found (Apache Kafka 4.x needs Java 17+)"
command -v "$MVN" >/dev/null 2>&1 || die "'$MVN' not found (Maven is needed to fetch Kafka from Maven Central)"
java_major="$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')"
[[ "${java_major%%.*}" -ge 17 ]] || die "Java $java_major found; Apache Kafka 4.x needs 17 or newer"

mkdir -p "$DIR"
cat >"$DIR/pom.xml" <<POM
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>govstream.test</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <!-- the logging binding the release tarball adds and the POM leaves out (slf4j 1.7 -> log4j2) -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
POM

rm -rf "$LIBS.tmp"
if ! "$MVN" -B -q -f "$DIR/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$LIBS.tmp" >"$DIR/mvn.log" 2>&1; then
    tail -40 "$DIR/mvn.log" >&2
    die "mvn could not fetch Apache Kafka $KAFKA_VERSION (is Maven Central reachable?); log: $DIR/mvn.log"
fi
ls "$LIBS.tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 || die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn"
rm -rf "$LIBS"
mv "$LIBS.tmp" "$LIBS"
rm -f "$DIR"/installed-*
touch "$STAMP"
