#!/usr/bin/env bash
# bench/run.sh WORKLOAD [ringchat-bench flags...]
#
# Runs one benchmark workload the way the README's figures were made: the
# local stack up, a keyspace of its own (ringchat_bench, kept between runs so
# the seeded population is reused), BENCH_NODES chatd nodes (default 1) built
# without the race detector, and ringchat-bench spreading users over them and
# sampling their CPU and memory and Cassandra's. Results go to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
workload=${1:?usage: bench/run.sh WORKLOAD [ringchat-bench flags...]}
shift
keyspace=${BENCH_KEYSPACE:-ringchat_bench}
nodes=${BENCH_NODES:-1}
# One run at a time on this machine: runs share the chatd ports and would
# measure each other. Another checkout's run holds the lock until it ends.
exec 8>/tmp/ringchat-bench.lock
flock -n 8 || { echo "bench/run.sh: waiting for another benchmark run to end" >&2; flock 8; }
make -s stack
mkdir -p bin bench/tmp
go build -o bin/chatd ./cmd/chatd
go build -o bin/ringchat-bench ./cmd/ringchat-bench
go run ./cmd/ringchat-migrate --keyspace "$keyspace" up

ulimit -n "$(ulimit -Hn)"
pids=() urls=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null || true' EXIT
# One node runs as a single node (no secret: no forwarding, no route look-ups).
secret=""
[ "$nodes" -gt 1 ] && secret=bench-cluster-secret
for n in $(seq 1 "$nodes"); do
  # The benchmark measures chatd, not its abuse limits: no per-user send rate.
  RINGCHAT_KEYSPACE=$keyspace RINGCHAT_LISTEN=127.0.0.1:$((8090 + n)) \
    RINGCHAT_ADMIN_LISTEN=127.0.0.1:$((9190 + n)) RINGCHAT_INTERNAL_LISTEN=127.0.0.1:$((9290 + n)) \
    RINGCHAT_CLUSTER_SECRET=$secret RINGCHAT_CLUSTER_NAME=bench RINGCHAT_SEND_RATE=0 \
    RINGCHAT_LOG_LEVEL=warn bin/chatd >"bench/tmp/chatd-$n.log" 2>&1 &
  pids+=($!) urls+=("http://127.0.0.1:$((8090 + n))")
done
for n in $(seq 1 "$nodes"); do
  for _ in $(seq 1 150); do
    curl -fs "http://127.0.0.1:$((9190 + n))/readyz" >/dev/null 2>&1 && break
    kill -0 "${pids[$((n - 1))]}" 2>/dev/null || { cat "bench/tmp/chatd-$n.log"; exit 1; }
    sleep 0.2
  done
done
bin/ringchat-bench -workload "$workload" -url "$(IFS=,; echo "${urls[*]}")" -keyspace "$keyspace" \
  -chatd-pid "$(IFS=,; echo "${pids[*]}")" -cassandra-pid "$(cat .stack/cassandra/cassandra.pid)" "$@"
