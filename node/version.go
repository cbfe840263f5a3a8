package node

// Version is the release version of this build. Release builds set it with
//
//	go build -ldflags "-X github.com/aura-node/aura-node/node.Version=1.2.3" ./cmd/aura-node
//
// The launcher and the upgrade status report it, so two builds of the same
// source can be told apart.
var Version = "0.1.0-dev"
