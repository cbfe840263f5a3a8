package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/storage"
)

// RunHome runs the node of a home until ctx is cancelled: it opens the
// config, keys, genesis and journal, starts the node and the loopback admin
// API, writes api.addr once the API listens, and removes it on exit.
func RunHome(ctx context.Context, home Home, log *slog.Logger, overrides ...func(*Config)) error {
	cfg, err := home.LoadConfig()
	if err != nil {
		return err
	}
	for _, o := range overrides {
		o(&cfg) // command-line flags such as run --seed
	}
	keys, err := home.LoadKeys()
	if err != nil {
		return err
	}
	token, err := home.LoadToken()
	if err != nil {
		return err
	}
	genesis, _, err := home.LoadGenesis()
	if err != nil {
		return err
	}
	journal, err := storage.OpenPebble(home.Path(DataDir), storage.PebbleOptions{Logger: log.With("component", "pebble")})
	if err != nil {
		return err
	}
	defer journal.Close()
	n, err := New(Params{Config: cfg, Keys: keys, Genesis: genesis, Journal: journal, Logger: log, SnapshotDir: home.Path(SnapshotsDir), BlocksDir: home.Path(BlocksDir), Home: home.Dir})
	if err != nil {
		return err
	}
	defer n.Close()
	n.importRolledBack(ctx, home, log)

	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("node: admin API cannot listen on %s: %w", cfg.APIAddr, err)
	}
	srv := &http.Server{
		Handler:           api.NewHandler(n, token, n.Registry(), log.With("component", "api")),
		ReadHeaderTimeout: 10 * time.Second,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if err := writeFileAtomic(home.Path(APIAddrFile), []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
		srv.Close()
		return err
	}
	defer os.Remove(home.Path(APIAddrFile))
	log.Info("aura-node running",
		"network", n.NetworkID(), "peer", n.Host().ID(), "authority", n.Authority(),
		"api", ln.Addr().String(), "listen", n.Host().Addrs(), "epoch", n.Governance().CurrentEpoch())

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("node: admin API stopped: %w", err)
		}
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	return nil
}
