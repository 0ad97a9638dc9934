#!/usr/bin/env bash
# Runs one Apache Cassandra node for development and tests, without Docker:
# jars from Maven Central (deploy/local/pom.xml), started with `java -cp`.
#   cassandra.sh start|stop|kill|status|wait [seconds]|nodetool ARGS...
# Data and logs live in .stack/cassandra (git-ignored); jars in .cache/cassandra.
# CASSANDRA_UNSAFE=1 skips fsync (tests only: never for data you keep).
#
# With no CASSANDRA_NODE_* settings this is the single dev node on 127.0.0.1:9042.
# deploy/local/ring.sh runs each ring node through this script with them set:
#   CASSANDRA_NODE_HOME  data, logs and config   (.stack/cassandra)
#   CASSANDRA_NODE_ADDR  listen, RPC and CQL address (127.0.0.1)
#   CASSANDRA_NODE_JMX   local JMX port          (7199)
#   CASSANDRA_NODE_SEEDS seed addresses, comma-separated (the node itself)
#   CASSANDRA_NODE_CLUSTER cluster name          (ringchat-dev)
#   CASSANDRA_NODE_SNITCH endpoint_snitch        (SimpleSnitch)
#   CASSANDRA_NODE_DC / CASSANDRA_NODE_RACK  cassandra-rackdc.properties (dc1 / rack1)
#   CASSANDRA_NODE_HEAP  max heap                (1G; initial: CASSANDRA_NODE_HEAP_MIN, 512M)
#   CASSANDRA_NODE_SMALL=1 smaller memtables, caches and thread pools (several nodes on one box)
#   CASSANDRA_NODE_RING_DELAY_MS gossip settle wait before joining (Cassandra's 30 s default)
#   CASSANDRA_NODE_COMMITLOG_WINDOW  commitlog_sync: group with this window (e.g. 10ms):
#     a write is answered only once its commit log is fsynced; unset: periodic
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VERSION=$(sed -n 's:.*<cassandra.version>\(.*\)</cassandra.version>.*:\1:p' "$ROOT/deploy/local/pom.xml")
LIB="$ROOT/.cache/cassandra/lib"
HOME_DIR="${CASSANDRA_NODE_HOME:-$ROOT/.stack/cassandra}"
PIDFILE="$HOME_DIR/cassandra.pid"
LOGDIR="$HOME_DIR/logs"
ADDR="${CASSANDRA_NODE_ADDR:-127.0.0.1}"
CQL_PORT=9042
JMX_PORT="${CASSANDRA_NODE_JMX:-7199}"
SEEDS="${CASSANDRA_NODE_SEEDS:-$ADDR}"
CLUSTER="${CASSANDRA_NODE_CLUSTER:-ringchat-dev}"
SNITCH="${CASSANDRA_NODE_SNITCH:-SimpleSnitch}"
DC="${CASSANDRA_NODE_DC:-dc1}"
RACK="${CASSANDRA_NODE_RACK:-rack1}"
HEAP="${CASSANDRA_NODE_HEAP:-1G}"
HEAP_MIN="${CASSANDRA_NODE_HEAP_MIN:-512M}"
SMALL="${CASSANDRA_NODE_SMALL:-0}"
RING_DELAY_MS="${CASSANDRA_NODE_RING_DELAY_MS:-}"
COMMITLOG_WINDOW="${CASSANDRA_NODE_COMMITLOG_WINDOW:-}"

die() { echo "cassandra.sh: $*" >&2; exit 1; }

# Cassandra 5.0 runs on JDK 11 or 17, not 21+: pick a 17 explicitly.
find_java() {
  local candidates=()
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  candidates+=(/usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk* /usr/lib/jvm/*17*)
  for home in "${candidates[@]}"; do
    if [ -x "$home/bin/java" ] && "$home/bin/java" -version 2>&1 | grep -q 'version "17'; then
      echo "$home/bin/java"; return 0
    fi
  done
  if command -v java >/dev/null && java -version 2>&1 | grep -q 'version "17'; then
    command -v java; return 0
  fi
  die "Java 17 not found: install a JDK 17 (Debian: apt-get install openjdk-17-jdk-headless) or set JAVA_HOME"
}

cql_answers() {
  (cd "$ROOT" && go run ./deploy/local/tools/cqlping -host "$ADDR:$CQL_PORT" -timeout "${1:-1s}" >/dev/null 2>&1)
}

fetch_jars() {
  if [ -f "$LIB/.version" ] && [ "$(cat "$LIB/.version")" = "$VERSION" ]; then
    return 0
  fi
  command -v mvn >/dev/null || die "Maven not found: install it (Debian: apt-get install maven)"
  echo "fetching Cassandra $VERSION jars from Maven Central into $LIB ..."
  rm -rf "$LIB"
  # Noise expected: an ERROR about a system-scoped com.jrockit.mc artifact; it does not stop the copy.
  mvn -B -q -s "$ROOT/deploy/local/maven-settings.xml" -f "$ROOT/deploy/local/pom.xml" \
    dependency:copy-dependencies -DoutputDirectory="$LIB" -DincludeScope=runtime \
    || [ -f "$LIB/cassandra-all-$VERSION.jar" ] || die "could not fetch Cassandra jars"
  echo "$VERSION" > "$LIB/.version"
}

# commitlog_sync: periodic answers a write once it is in the commit log's
# buffer; a kill -9 loses what the last sync marker does not cover (about
# the last 100 ms here), so two replicas killed together can lose a write
# they both answered. group answers only after the fsync (docs/ring.md).
commitlog_sync() {
  if [ -n "$COMMITLOG_WINDOW" ]; then
    printf 'commitlog_sync: group\ncommitlog_sync_group_window: %s' "$COMMITLOG_WINDOW"
  else
    printf 'commitlog_sync: periodic\ncommitlog_sync_period: 10000ms'
  fi
}

# A replayed hint counts only if the returning node applies it within
# write_request_timeout, and one late hint sends its whole page again. Ring
# nodes sharing two cores with each other, chatd and the load dropped replayed
# hints at 2.0-2.35 s, forever (docs/ring.md), so they wait 5 s. chatd's own
# per-query timeout (2 s) still bounds what a client waits for a write.
write_timeout() {
  if [ "$SMALL" = 1 ]; then echo 5000ms; else echo 2000ms; fi
}

write_config() {
  mkdir -p "$HOME_DIR/conf" "$HOME_DIR/data" "$LOGDIR"
  local seeds; seeds=$(echo "$SEEDS" | sed 's/\([^,]*\)/\1:7000/g')
  cat > "$HOME_DIR/conf/cassandra.yaml" <<YAML
# Generated by deploy/local/cassandra.sh: a small node on loopback.
cluster_name: $CLUSTER
num_tokens: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: $SNITCH
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "$seeds"
listen_address: $ADDR
rpc_address: $ADDR
native_transport_port: $CQL_PORT
storage_port: 7000
start_native_transport: true
data_file_directories: [$HOME_DIR/data/data]
commitlog_directory: $HOME_DIR/data/commitlog
saved_caches_directory: $HOME_DIR/data/saved_caches
hints_directory: $HOME_DIR/data/hints
cdc_raw_directory: $HOME_DIR/data/cdc_raw
$(commitlog_sync)
commitlog_segment_size: 8MiB
auto_snapshot: false
concurrent_reads: 8
concurrent_writes: 16
concurrent_counter_writes: 4
concurrent_compactors: 1
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
# The app's lightweight transactions and many short-lived test keyspaces.
cas_contention_timeout: 2000ms
write_request_timeout: $(write_timeout)
read_request_timeout: 5000ms
YAML
  if [ "$SMALL" = 1 ]; then
    # Several nodes beside the tests on 2 cores: small memtables and caches, few threads.
    cat >> "$HOME_DIR/conf/cassandra.yaml" <<YAML
memtable_heap_space: 64MiB
memtable_offheap_space: 64MiB
memtable_flush_writers: 1
key_cache_size: 8MiB
counter_cache_size: 0MiB
native_transport_max_threads: 32
compaction_throughput: 16MiB/s
# Replicas ordered by the snitch alone: a read at ONE is then served by the
# node that coordinates it (the ring tests read each replica this way).
dynamic_snitch: false
YAML
  fi
  # Read by GossipingPropertyFileSnitch (and ignored by SimpleSnitch).
  printf 'dc=%s\nrack=%s\n' "$DC" "$RACK" > "$HOME_DIR/conf/cassandra-rackdc.properties"
  cat > "$HOME_DIR/conf/logback.xml" <<XML
<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$LOGDIR/system.log</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <filter class="ch.qos.logback.classic.filter.ThresholdFilter"><level>WARN</level></filter>
    <encoder><pattern>%-5level %date{ISO8601} %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/><appender-ref ref="STDOUT"/></root>
</configuration>
XML
}

# From Cassandra's conf/jvm17-server.options: the module openings 5.0 needs on JDK 17.
JVM17_FLAGS=(
  --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
  --add-exports java.base/jdk.internal.ref=ALL-UNNAMED
  --add-exports java.base/sun.nio.ch=ALL-UNNAMED
  --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
  --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
  --add-exports java.sql/java.sql=ALL-UNNAMED
  --add-exports java.base/java.lang.ref=ALL-UNNAMED
  --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
  --add-opens java.base/java.lang.module=ALL-UNNAMED
  --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
  --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
  --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
  --add-opens java.base/jdk.internal.math=ALL-UNNAMED
  --add-opens java.base/jdk.internal.module=ALL-UNNAMED
  --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
  --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
  --add-opens java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens java.base/java.io=ALL-UNNAMED
  --add-opens java.base/java.nio=ALL-UNNAMED
  --add-opens java.base/java.util=ALL-UNNAMED
  --add-opens java.base/java.util.concurrent=ALL-UNNAMED
  --add-opens java.base/java.util.concurrent.atomic=ALL-UNNAMED
  --add-opens java.base/java.lang=ALL-UNNAMED
  --add-opens java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens java.base/java.math=ALL-UNNAMED
  --add-opens java.base/java.net=ALL-UNNAMED
  --add-opens java.base/java.text=ALL-UNNAMED
  --add-opens java.base/java.time=ALL-UNNAMED
  --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
  --add-opens jdk.attach/sun.tool.attach=ALL-UNNAMED
)

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  if cql_answers 2s; then
    echo "cassandra: already answering on $ADDR:$CQL_PORT"
    return 0
  fi
  if running; then
    echo "cassandra: starting (pid $(cat "$PIDFILE"))"
    return 0
  fi
  local java; java=$(find_java)
  fetch_jars
  write_config
  local extra=()
  [ "${CASSANDRA_UNSAFE:-0}" = 1 ] && extra=(-Dcassandra.unsafesystem=true)
  [ -n "$RING_DELAY_MS" ] && extra+=(-Dcassandra.ring_delay_ms="$RING_DELAY_MS")
  # Several nodes on two shared cores: the client compiler only, which starts a
  # node in far less CPU than C2 at some cost in peak throughput.
  [ "$SMALL" = 1 ] && extra+=(-XX:TieredStopAtLevel=1)
  echo "cassandra: starting $VERSION on $ADDR (dc $DC, rack $RACK, logs: $LOGDIR)"
  nohup "$java" -Xms"$HEAP_MIN" -Xmx"$HEAP" -XX:+UseG1GC -Xss512k \
    "${JVM17_FLAGS[@]}" \
    -Djdk.attach.allowAttachSelf=true -Djava.net.preferIPv4Stack=true \
    -Dio.netty.tryReflectionSetAccessible=true \
    -Dcassandra.config="file://$HOME_DIR/conf/cassandra.yaml" \
    -Dcassandra.storagedir="$HOME_DIR/data" -Dcassandra.logdir="$LOGDIR" \
    -Dlogback.configurationFile="$HOME_DIR/conf/logback.xml" \
    -Dcassandra-rackdc.properties="file://$HOME_DIR/conf/cassandra-rackdc.properties" \
    -Dcassandra-foreground=yes -Dcassandra.skip_wait_for_gossip_to_settle=0 \
    -Dcassandra.jmx.local.port="$JMX_PORT" "${extra[@]}" \
    -cp "$LIB/*" org.apache.cassandra.service.CassandraDaemon \
    >"$LOGDIR/stdout.log" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
}

wait_ready() {
  local timeout=${1:-180}
  if ! (cd "$ROOT" && go run ./deploy/local/tools/cqlping -host "$ADDR:$CQL_PORT" -timeout "${timeout}s"); then
    echo "cassandra: not answering CQL after ${timeout}s; last log lines:" >&2
    tail -n 30 "$LOGDIR/system.log" "$LOGDIR/stdout.log" >&2 2>/dev/null || true
    exit 1
  fi
}

stop() {
  if [ ! -f "$PIDFILE" ]; then echo "cassandra: not started by this script"; return 0; fi
  local pid; pid=$(cat "$PIDFILE")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$PIDFILE"
  echo "cassandra: stopped"
}

# kill -9: a crash, for the ring's failure tests. The data folder stays.
crash() {
  if running; then kill -9 "$(cat "$PIDFILE")"; fi
  rm -f "$PIDFILE"
  echo "cassandra: $ADDR killed"
}

status() {
  if cql_answers 2s; then echo "cassandra: answering on $ADDR:$CQL_PORT"; else echo "cassandra: $ADDR down"; return 1; fi
}

# nodetool from the same jars, against this node's local JMX port.
nodetool() {
  local java; java=$(find_java)
  mkdir -p "$HOME_DIR/conf"
  echo '<configuration><root level="WARN"/></configuration>' > "$HOME_DIR/conf/logback-tools.xml"
  "$java" -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "${JVM17_FLAGS[@]}" \
    -Dlogback.configurationFile="$HOME_DIR/conf/logback-tools.xml" -Dcassandra.logdir="$LOGDIR" \
    -Duser.home="$HOME_DIR" -cp "$LIB/*" org.apache.cassandra.tools.NodeTool -h 127.0.0.1 -p "$JMX_PORT" "$@"
}

case "${1:-}" in
  start) start ;;
  wait) wait_ready "${2:-180}" ;;
  stop) stop ;;
  kill) crash ;;
  status) status ;;
  nodetool) shift; nodetool "$@" ;;
  *) echo "usage: $0 start|stop|kill|status|wait [seconds]|nodetool ARGS..." >&2; exit 2 ;;
esac
