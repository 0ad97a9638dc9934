// Package check holds the deployment files under deploy/ to what chatd is:
// its tests build chatd and ringchat-migrate from the repo root, read their
// --help and README's configuration table, run chatd against the dev
// Cassandra to read the metrics it exports, and check the Dockerfile, the
// compose file, the Kubernetes overlays, the systemd units, the alert rules
// and the Grafana dashboard against them (deploy/README.md lists each check).
//
// It is a module of its own so that chatd's go.mod never carries the
// Kubernetes, Compose, Prometheus and BuildKit trees these checks parse with.
// Run it with `make deploy-check` (part of `make test`).
package check
