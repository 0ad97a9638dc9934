#!/usr/bin/env bash
# Runs an S3-compatible server that checks SigV4 and presigned URLs (versitygw,
# pinned, built with `go install` from the Go module proxy) on 127.0.0.1:7070,
# storing objects under .stack/s3, and makes the media bucket.
#   s3.sh start|stop|status
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VERSITYGW_VERSION=v1.7.0
BIN="$ROOT/.cache/bin/versitygw"
DIR="$ROOT/.stack/s3"
PIDFILE="$DIR/versitygw.pid"
ADDR=127.0.0.1:7070
# Development credentials only; production points chatd at real S3 or its own store.
export ROOT_ACCESS_KEY=${RINGCHAT_S3_ACCESS_KEY:-ringchat}
export ROOT_SECRET_KEY=${RINGCHAT_S3_SECRET_KEY:-ringchat-dev-secret}
BUCKET=${RINGCHAT_S3_BUCKET:-ringchat-media}

die() { echo "s3.sh: $*" >&2; exit 1; }

answers() { (exec 3<>"/dev/tcp/${ADDR%:*}/${ADDR#*:}") 2>/dev/null; }

install() {
  if [ -x "$BIN" ] && [ -f "$BIN.version" ] && [ "$(cat "$BIN.version")" = "$VERSITYGW_VERSION" ]; then
    return 0
  fi
  command -v go >/dev/null || die "Go not found: install Go 1.26"
  echo "installing versitygw $VERSITYGW_VERSION (go install, about 2 minutes the first time) ..."
  GOBIN="$ROOT/.cache/bin" go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
  echo "$VERSITYGW_VERSION" > "$BIN.version"
}

start() {
  if answers; then
    echo "s3: already answering on $ADDR"
  else
    install
    mkdir -p "$DIR/data" "$DIR/meta"
    nohup "$BIN" --port "$ADDR" --region us-east-1 posix --sidecar "$DIR/meta" "$DIR/data" \
      >"$DIR/versitygw.log" 2>&1 </dev/null &
    echo $! > "$PIDFILE"
    for _ in $(seq 1 50); do answers && break; sleep 0.2; done
    answers || { tail -n 20 "$DIR/versitygw.log" >&2; die "versitygw did not start"; }
    echo "s3: versitygw $VERSITYGW_VERSION answering on $ADDR (data in $DIR)"
  fi
  (cd "$ROOT" && go run ./deploy/local/tools/mkbucket -endpoint "http://$ADDR" -bucket "$BUCKET")
}

stop() {
  [ -f "$PIDFILE" ] || { echo "s3: not started by this script"; return 0; }
  kill "$(cat "$PIDFILE")" 2>/dev/null || true
  rm -f "$PIDFILE"
  echo "s3: stopped"
}

status() { if answers; then echo "s3: answering on $ADDR"; else echo "s3: down"; return 1; fi; }

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
