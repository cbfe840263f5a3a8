// Package testnet runs a local aura-node network of real processes on
// 127.0.0.1, for trying the system out, demos and crash tests.
//
// It owns a testnet directory:
//
//	DIR/testnet.json      the manifest (Manifest): nodes, ports, peer IDs
//	DIR/node-<i>/         node i's home (see node.Home), plus
//	DIR/node-<i>/node.log the process's stdout and stderr
//	DIR/node-<i>/node.pid the process ID while it runs
//
// Every node is a separate `aura-node run --home DIR/node-<i>` process in
// its own session (Setsid), so the network outlives the command that
// started it. Nodes find each other through static peers: Up picks the
// libp2p ports in advance so that every node's config can name every other
// node. All nodes share one genesis signed by node 1's authority; every
// node's authority is a roster member, the threshold is a simple majority
// and node 1 is the admin.
//
// The package never calls os.Exit and prints only to the io.Writer it is
// given; cmd/aura-node wraps it as `aura-node testnet up|status|stop|start|
// down|demo`.
//
// # Usage sketch
//
//	m, err := testnet.Up(ctx, testnet.UpOptions{Dir: dir, N: 3, Log: os.Stderr})
//	// ... talk to the nodes with api.NewClient ...
//	rep, err := testnet.Status(ctx, dir)              // per-node table
//	err = testnet.Stop(ctx, dir, 2, os.Stderr)        // SIGKILL node 2
//	err = testnet.Start(ctx, testnet.StartOptions{Dir: dir, Nodes: []int{2}})
//	err = testnet.Down(ctx, testnet.DownOptions{Dir: dir, Purge: true})
//
// Demo runs the whole story end to end: up, write on node 1, wait until
// every node holds the same values and state digest, replicate a cache
// invalidation, and down again.
//
// Waiting is always on a condition with a deadline (readiness, peer count,
// state digests), polled at a short interval; nothing sleeps "to let
// things settle".
package testnet
