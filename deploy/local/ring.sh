#!/usr/bin/env bash
# Runs a local Cassandra ring: N nodes from the pinned jars on loopback aliases
# (127.0.0.2, .3, ... : Linux routes all of 127/8 to lo), each one started by
# deploy/local/cassandra.sh with its own data, logs and JMX port. The single
# dev node (127.0.0.1:9042, cluster ringchat-dev) is a different cluster and
# is never touched.
#
#   ring.sh start [flags]        start (or join) the nodes one at a time; ready when
#                                every node answers CQL and sees every other one up;
#                                without node flags: every recorded node (3 at first)
#   ring.sh wait [seconds]       wait for that readiness
#   ring.sh status               each node's CQL answer and nodetool's view
#   ring.sh stop                 stop every node (data kept); ring.sh wipe also deletes it
#   ring.sh hosts                CQL contact points, comma-separated
#   ring.sh kill ADDR            kill -9 one node (a crash)
#   ring.sh stop-node ADDR       drain and stop one node
#   ring.sh start-node ADDR      start one known node again and wait until it is back
#   ring.sh nodetool ADDR ARGS   nodetool against one node
#
# start flags (a node already recorded keeps its data centre and rack):
#   --nodes N              N nodes 127.0.0.2.. in dc1, racks rack1..rackN
#   --node ADDR[:DC[:RACK]]  one node; repeatable, replaces --nodes
#   --two-dc               dc1's three nodes and dc2's one, 127.0.0.5 (docs/ring.md)
#   --seeds A,B            seed addresses (default: the first node of each DC)
#   --snitch CLASS         endpoint_snitch (default GossipingPropertyFileSnitch)
#   --heap SIZE            max heap per node (default 640M)
#   --timeout SECONDS      per node (default 420: a bootstrap on 2 busy cores)
# Data and logs: .stack/ring/<addr>/ (git-ignored).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
NODE_SH="$ROOT/deploy/local/cassandra.sh"
RING_DIR="$ROOT/.stack/ring"
NODES_FILE="$RING_DIR/nodes"   # one line per node: ADDR DC RACK JMX
SETTINGS_FILE="$RING_DIR/settings"
CLUSTER=ringchat-ring

die() { echo "ring.sh: $*" >&2; exit 1; }
log() { echo "ring: $(date -u +%H:%M:%S) $*"; }

# node_env ADDR: the cassandra.sh settings of one recorded node. Never
# CASSANDRA_UNSAFE: -Dcassandra.unsafesystem skips the flush after a schema
# change, and a node loads its schema from disk before it replays its commit
# log, so one killed soon after a migration came back without the keyspace and
# answered INCOMPATIBLE_SCHEMA for good (its schema tables, replayed, matched
# its peers', so it never pulled again). The ring tests kill nodes. And group
# commit: with periodic sync, two nodes killed at once lost a write both had
# answered (the third had it late, and QUORUM reads of the two missed it).
node_env() {
  local addr=$1 line dc rack jmx
  line=$(awk -v a="$addr" '$1 == a' "$NODES_FILE" 2>/dev/null) || true
  [ -n "$line" ] || die "$addr is not a node of the ring (see .stack/ring/nodes)"
  read -r _ dc rack jmx <<<"$line"
  # shellcheck disable=SC1090
  source "$SETTINGS_FILE"
  echo "CASSANDRA_NODE_HOME=$RING_DIR/$addr CASSANDRA_NODE_ADDR=$addr CASSANDRA_NODE_JMX=$jmx" \
    "CASSANDRA_NODE_SEEDS=$(seeds_for "$addr") CASSANDRA_NODE_CLUSTER=$CLUSTER CASSANDRA_NODE_SNITCH=$SNITCH" \
    "CASSANDRA_NODE_DC=$dc CASSANDRA_NODE_RACK=$rack CASSANDRA_NODE_HEAP=$HEAP CASSANDRA_NODE_HEAP_MIN=256M" \
    "CASSANDRA_NODE_SMALL=1 CASSANDRA_NODE_RING_DELAY_MS=5000 CASSANDRA_NODE_COMMITLOG_WINDOW=10ms" \
    "CASSANDRA_UNSAFE=0"
}

# seeds_for ADDR: the seeds ADDR's cassandra.yaml lists. A node that lists
# itself does not bootstrap (Cassandra's rule for seeds) and would join a
# running ring owning ranges it holds no data for, so until a node has joined
# once (.stack/ring/<addr>/joined) it leaves itself out while another seed
# runs: the first node of dc2, a seed, then bootstraps into the running dc1
# ring like any other. The first node of a fresh ring keeps itself: it has no
# one to join. Once joined a node never bootstraps again, so it lists itself.
seeds_for() {
  local addr=$1 s live others=()
  if [ ! -f "$RING_DIR/$addr/joined" ]; then
    live=$(live_addrs)
    for s in ${SEEDS//,/ }; do
      [ "$s" != "$addr" ] && grep -qx "$s" <<<"$live" && others+=("$s")
    done
  fi
  if [ ${#others[@]} -gt 0 ]; then (IFS=,; echo "${others[*]}"); else echo "$SEEDS"; fi
}

on_node() { local addr=$1; shift; env $(node_env "$addr") "$NODE_SH" "$@"; }

addrs() { awk '{print $1}' "$NODES_FILE" 2>/dev/null; }

# The readiness probe, built once per run: polling through `go run` costs a
# go invocation a second, which a start on two busy cores feels.
CQLPING="$ROOT/.cache/bin/cqlping"
answers() {
  if [ -z "${CQLPING_BUILT:-}" ]; then
    (cd "$ROOT" && go build -o "$CQLPING" ./deploy/local/tools/cqlping) || die "could not build cqlping"
    CQLPING_BUILT=1
  fi
  "$CQLPING" -host "$1:9042" -timeout "${2:-1s}" >/dev/null 2>&1
}

# live_addrs: the recorded nodes whose process runs (a node killed or not yet
# started is not waited for).
live_addrs() {
  local a; for a in $(addrs); do
    [ -f "$RING_DIR/$a/cassandra.pid" ] && kill -0 "$(cat "$RING_DIR/$a/cassandra.pid")" 2>/dev/null && echo "$a"
  done; return 0
}

# sees_all ADDR: nodetool on ADDR lists every live node as Up/Normal.
sees_all() {
  local out; out=$(on_node "$1" nodetool status 2>/dev/null) || return 1
  local a; for a in $(live_addrs); do grep -Eq "^UN +$a " <<<"$out" || return 1; done
}

# wait_node ADDR SECONDS: CQL answers and the node sees every other one up;
# says what the node is doing every 15 s meanwhile.
wait_node() {
  local addr=$1 timeout=$2 start=$SECONDS next=$((SECONDS + 15))
  until answers "$addr" 3s && sees_all "$addr"; do
    if [ $((SECONDS - start)) -ge "$timeout" ]; then
      echo "ring: $addr not ready after ${timeout}s; last log lines:" >&2
      tail -n 20 "$RING_DIR/$addr/logs/system.log" >&2 2>/dev/null || true
      return 1
    fi
    if [ $SECONDS -ge $next ]; then
      log "$addr: waiting ($((SECONDS - start))s): $(grep -v ' DEBUG ' "$RING_DIR/$addr/logs/system.log" 2>/dev/null | tail -n 1 | cut -c1-160)"
      next=$((SECONDS + 15))
    fi
    sleep 1
  done
  touch "$RING_DIR/$addr/joined"
  log "$addr up after $((SECONDS - start))s"
}

# record ADDR DC RACK: add a node to the ring's list (its DC and rack are fixed once it has joined).
record() {
  local addr=$1 dc=$2 rack=$3 line
  line=$(awk -v a="$addr" '$1 == a' "$NODES_FILE" 2>/dev/null) || true
  if [ -n "$line" ]; then
    read -r _ odc orack _ <<<"$line"
    [ "$odc $orack" = "$dc $rack" ] || die "$addr joined as $odc/$orack, not $dc/$rack: ring.sh wipe first"
    return 0
  fi
  local n; n=$(wc -l <"$NODES_FILE")
  echo "$addr $dc $rack $((7300 + n))" >>"$NODES_FILE"
}

start() {
  local count="" specs=() seeds="" snitch=GossipingPropertyFileSnitch heap=640M timeout=420
  while [ $# -gt 0 ]; do
    case "$1" in
      --nodes) count=$2; shift 2 ;;
      --two-dc) specs+=(127.0.0.2:dc1:rack1 127.0.0.3:dc1:rack2 127.0.0.4:dc1:rack3 127.0.0.5:dc2:rack1); shift ;;
      --node) specs+=("$2"); shift 2 ;;
      --seeds) seeds=$2; shift 2 ;;
      --snitch) snitch=$2; shift 2 ;;
      --heap) heap=$2; shift 2 ;;
      --timeout) timeout=$2; shift 2 ;;
      *) die "unknown flag $1" ;;
    esac
  done
  mkdir -p "$RING_DIR"; touch "$NODES_FILE"
  # No node flags: the ring as recorded, so a node an earlier run added (dc2's)
  # is started again too, and schema changes find every node up (the driver
  # waits for a schema agreement a down node's stale version never gives).
  if [ ${#specs[@]} -eq 0 ] && [ -z "$count" ] && [ -s "$NODES_FILE" ]; then
    mapfile -t specs < <(awk '{print $1 ":" $2 ":" $3}' "$NODES_FILE")
  fi
  if [ ${#specs[@]} -eq 0 ]; then
    for i in $(seq 1 "${count:-3}"); do specs+=("127.0.0.$((i + 1)):dc1:rack$i"); done
  fi
  local want=() spec addr dc rack
  for spec in "${specs[@]}"; do
    IFS=: read -r addr dc rack <<<"$spec"
    [ "$addr" != 127.0.0.1 ] || die "127.0.0.1 is the dev node's address: use 127.0.0.2 and up"
    record "$addr" "${dc:-dc1}" "${rack:-rack1}"
    want+=("$addr")
  done
  if [ -z "$seeds" ]; then # the first node of each DC
    seeds=$(awk '!seen[$2]++ {print $1}' "$NODES_FILE" | paste -sd,)
  fi
  printf 'SEEDS=%s\nSNITCH=%s\nHEAP=%s\n' "$seeds" "$snitch" "$heap" >"$SETTINGS_FILE"
  log "nodes ${want[*]} (seeds $seeds, $snitch, heap $heap)"
  # One at a time: Cassandra refuses a bootstrap while another is in progress.
  for addr in "${want[@]}"; do
    if answers "$addr" 2s && ! grep -qx "$addr" <<<"$(live_addrs)"; then
      # The addresses are the machine's, the pid files this checkout's: a node
      # another checkout started could be neither killed nor restarted from here.
      die "$addr answers CQL but was not started from $ROOT (another checkout's ring?): make ring-stop there first"
    fi
    if answers "$addr" 2s && sees_all "$addr"; then log "$addr already up"; continue; fi
    on_node "$addr" start
    wait_node "$addr" "$timeout" || die "$addr did not come up"
  done
  wait_all 120
}

wait_all() {
  local addr; for addr in $(live_addrs); do wait_node "$addr" "${1:-120}" >/dev/null || die "$addr not ready"; done
  log "ready: $(live_addrs | paste -sd' ') answer CQL and see each other up"
}

status() {
  [ -s "$NODES_FILE" ] || { echo "ring: no ring recorded (make ring)"; return 1; }
  local addr rc=0 first=""
  for addr in $(addrs); do
    if answers "$addr" 2s; then echo "ring: $addr answering CQL"; first=${first:-$addr}; else echo "ring: $addr down"; rc=1; fi
  done
  [ -n "$first" ] && on_node "$first" nodetool status 2>/dev/null | grep -E '^(Datacenter|[UD][NLJM] )' || true
  return $rc
}

stop() {
  [ -s "$NODES_FILE" ] || { echo "ring: no ring recorded"; return 0; }
  local addr; for addr in $(addrs); do on_node "$addr" stop; done
}

# All in one function, called on the last line: bash reads a script as it
# runs it, and ring.sh runs for minutes while it may be edited.
main() {
  case "${1:-}" in
    start) shift; start "$@" ;;
    wait) wait_all "${2:-120}" ;;
    status) status ;;
    stop) stop ;;
    wipe) stop; rm -rf "$RING_DIR"; echo "ring: wiped" ;;
    hosts) addrs | sed 's/$/:9042/' | paste -sd, ;;
    kill) on_node "${2:?ADDR}" kill ;;
    stop-node) on_node "${2:?ADDR}" nodetool drain 2>/dev/null || true; on_node "$2" stop ;;
    start-node) on_node "${2:?ADDR}" start; wait_node "$2" "${3:-420}" ;;
    nodetool) addr=${2:?ADDR}; shift 2; on_node "$addr" nodetool "$@" ;;
    *) sed -n '2,29p' "$0" >&2; exit 2 ;;
  esac
}
main "$@"; exit $?
