// Package archtest holds the architecture test of aura-node: it keeps the
// deterministic cores (facts, antientropy, snapshot, release, activation)
// free of I/O, networking, storage engines, goroutines and the wall clock,
// as points 1 and 13 of the project style guide require.
//
// The package has no code of its own; its test fails the build when a core
// package gains a forbidden import, directly or through its dependencies,
// or calls a forbidden function. Run it with
//
//	go test ./internal/archtest
//
// To admit a new core package, add it to corePackages in archtest_test.go.
package archtest
