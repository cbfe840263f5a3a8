// Command aura-node runs and operates aura-node peers: it initialises node
// homes, runs a node, talks to a running node through its loopback admin
// API, runs local multi-node testnets and benchmarks.
//
// Every failure prints one line, "aura-node: <message>", on stderr and
// exits with status 1.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}

// execute runs the CLI and returns the process exit status. Errors, and
// panics in the command goroutine, become one line on stderr.
func execute(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "aura-node: internal error: %s (please report this)\n", oneLine(fmt.Sprint(r)))
			code = 1
		}
	}()
	// The first SIGINT or SIGTERM cancels the command's context, so a
	// running node or a testnet wait shuts down cleanly; stop() then
	// restores the default handling, so a second signal ends the process.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()

	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "aura-node: %s\n", errorLine(err))
		return 1
	}
	return 0
}

// pkgPrefixes are package prefixes that mean nothing to a user at the
// start of a message.
var pkgPrefixes = []string{"node: ", "api: ", "facts: ", "testnet: ", "bench: ", "storage: "}

// errorLine renders an error as one user-facing line.
func errorLine(err error) string {
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	msg := err.Error()
	// cobra's unknown-command error carries suggestions on extra lines.
	if head, sugg, ok := strings.Cut(msg, "\n\nDid you mean this?\n"); ok {
		var names []string
		for _, s := range strings.Fields(sugg) {
			names = append(names, s)
		}
		msg = fmt.Sprintf("%s (did you mean %s?)", head, strings.Join(names, " or "))
	}
	msg = oneLine(msg)
	for _, p := range pkgPrefixes {
		if m, ok := strings.CutPrefix(msg, p); ok {
			msg = m
			break
		}
	}
	return msg
}

// oneLine joins the non-empty lines of s with "; ".
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
