// Package layering holds no code: its test reads the module's import graph
// with `go list` and fails on an import against the direction the packages
// keep (docs/architecture.md). The rules are one table, in layering_test.go,
// each with its reason; a refactor step that moves a package edits its rows.
package layering
