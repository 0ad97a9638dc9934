# ringchat: `make run` and `make test` bring up what they need (Cassandra 5.0 from
# Maven Central, versitygw from the Go module proxy), once; later runs reuse it.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

# The local S3 server's development settings (deploy/local/s3.sh).
export RINGCHAT_S3_ENDPOINT ?= http://127.0.0.1:7070
export RINGCHAT_S3_BUCKET ?= ringchat-media
export RINGCHAT_S3_ACCESS_KEY ?= ringchat
export RINGCHAT_S3_SECRET_KEY ?= ringchat-dev-secret
export RINGCHAT_S3_REGION ?= us-east-1
export RINGCHAT_S3_PATH_STYLE ?= true
export RINGCHAT_CASSANDRA_HOSTS ?= 127.0.0.1:9042

# Go test timeout for the whole suite (CI has 90 minutes in all).
TEST_TIMEOUT ?= 40m

.PHONY: help stack cassandra s3 migrate run test fuzz vet fmt stop status bench ring ring-2dc ring-stop ring-status ring-test build deploy-check sdk-gen web browser

help:
	@echo "make run | make test | make fuzz | make stack | make stop | make status | make migrate | make vet | make fmt | make bench"
	@echo "make ring | make ring-2dc | make ring-status | make ring-stop | make ring-test"
	@echo "make build | make deploy-check | make sdk-gen | make web | make browser"

cassandra:
	@deploy/local/cassandra.sh start
	@deploy/local/cassandra.sh wait 240

s3:
	@deploy/local/s3.sh start

stack: cassandra s3

migrate: stack
	go run ./cmd/ringchat-migrate up

run: migrate web
	@echo "run: the web app will be on http://127.0.0.1:8080/app/ (open it in two browsers)"
	RINGCHAT_WEB_DIR=web/dist go run ./cmd/chatd

# The web app (web/), built into web/dist for chatd's --web-dir.
web:
	@echo "web: npm ci and vite build into web/dist ..."
	cd web && npm ci --no-audit --no-fund && npm run build

# Debian's Chromium for the browser tests (internal/webtest), once.
browser:
	@if [ -x /usr/bin/chromium ]; then echo "browser: $$(/usr/bin/chromium --version 2>/dev/null)"; else \
		echo "browser: installing Debian's chromium (apt-get, a few minutes the first time) ..."; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); $$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; fi

# The binaries the container image ships, static, into bin/. The Dockerfile
# (deploy/docker/) runs this same command; deploy-check fails when they differ.
BUILD_PKGS := ./cmd/chatd ./cmd/ringchat-migrate ./deploy/docker/healthcheck
BUILD_FLAGS := -trimpath -buildvcs=false -ldflags="-s -w"
build:
	CGO_ENABLED=0 go build $(BUILD_FLAGS) -o bin/ $(BUILD_PKGS)

# The deployment files' checks (deploy/check: a module of its own, so chatd's
# go.mod never carries the Kubernetes tree). Needs the dev Cassandra (stack):
# the alert rules and the dashboard are held to a running chatd's /metrics.
deploy-check: stack
	@echo "deploy-check: fetching deploy/check's modules ..."
	@start=$$(date +%s); cd deploy/check && go mod download && echo "deploy-check: modules ready in $$(( $$(date +%s) - start )) s"
	@echo "deploy-check: go vet (a cold build cache compiles the Kubernetes and Prometheus trees first: about 2 minutes here)"
	cd deploy/check && go vet ./...
	cd deploy/check && go test -count=1 -v -timeout 15m ./...

# Tests make their own keyspaces on the shared node. CASSANDRA_UNSAFE=1 lets a node
# this target starts skip fsync (test data only); a node already running is reused.
test: export CASSANDRA_UNSAFE = 1
test: stack vet browser
	go test -race -count=1 -timeout $(TEST_TIMEOUT) $$(go list ./... | grep -v /internal/ringtest$$)
	@$(MAKE) --no-print-directory deploy-check
	@$(MAKE) --no-print-directory fuzz
	@$(MAKE) --no-print-directory ring-test

# The ring scenarios (internal/ringtest, docs/ring.md): they start the ring
# when it is not up (minutes here) and kill its nodes, so they run after the
# rest, alone, with -v for their progress and figures.
# Ring nodes never start unsafe (deploy/local/ring.sh says why). The two-DC
# scenario runs last (file order) and alone by `make ring-2dc-test`.
ring-test:
	go test -race -count=1 -v -timeout $(TEST_TIMEOUT) ./internal/ringtest/

ring-2dc-test:
	go test -race -count=1 -v -timeout $(TEST_TIMEOUT) -run '^TestRingTwoDCs$$' ./internal/ringtest/

# A short run of every Fuzz target (the seeds in code and testdata/fuzz/ run in
# every `go test` already); FUZZTIME=200000x for a longer hunt. A failing input
# is written to the package's testdata/fuzz/: commit it with the fix. A count,
# not a duration: Go 1.26's coordinator can fail a duration run at its deadline
# with a bare "context deadline exceeded" and no input (golang/go#75804, fixed
# in 1.27); CI saw it on FuzzConvFrame. 4,000 runs take 2-6 s a target here.
FUZZTIME ?= 4000x
fuzz:
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; cache=$$(go env GOCACHE)/fuzz; \
	for pkg in $$(grep -l '^func Fuzz' $$(git ls-files '*_test.go') | xargs -n1 dirname | sort -u); do \
		bin=$$tmp/$$(echo $$pkg | tr / _).test; \
		go test -c -fuzz=. -o $$bin ./$$pkg; \
		for fn in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$pkg/*_test.go | cut -d' ' -f2); do \
			echo "fuzz: ./$$pkg $$fn for $(FUZZTIME)"; \
			(cd $$pkg && $$bin -test.run '^$$' -test.fuzz "^$$fn\$$" -test.fuzztime $(FUZZTIME) \
				-test.fuzzcachedir $$cache/$$pkg/$$fn | tail -n 2); \
		done; \
	done

# The TypeScript SDK's types, regenerated from api/openapi.yaml (a test in
# internal/sdktest fails while they are stale).
sdk-gen:
	cd sdk/typescript && npm ci --no-audit --no-fund && npm run gen

vet: fmt
	go vet ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

# One benchmark workload against BENCH_NODES chatd nodes (docs/benchmark.md), e.g.
#   make bench WORKLOAD=reference BENCH_NODES=6 ARGS="-users 100000 -procs 6 -rate 1667 -duration 60s"
WORKLOAD ?= reference
ARGS ?=
bench:
	bench/run.sh $(WORKLOAD) $(ARGS)

# A local ring of Cassandra nodes on 127.0.0.2.. (deploy/local/ring.sh; docs/ring.md),
# beside the dev node on 127.0.0.1; a running ring is reused. RING_FLAGS go to
# `ring.sh start`, e.g. RING_FLAGS="--node 127.0.0.2:dc1:rack1 --node 127.0.0.5:dc2:rack1".
RING_FLAGS ?=
ring:
	@deploy/local/ring.sh start $(RING_FLAGS)

# Two data centres: dc1's three nodes and dc2's one (127.0.0.5), which joins a
# running dc1 ring; `make ring` starts all four from then on.
ring-2dc:
	@deploy/local/ring.sh start --two-dc

ring-stop:
	@deploy/local/ring.sh stop

ring-status:
	@deploy/local/ring.sh status

stop:
	@deploy/local/s3.sh stop
	@deploy/local/cassandra.sh stop

status:
	@deploy/local/cassandra.sh status || true
	@deploy/local/s3.sh status || true
