package node

import (
	"context"
	"log/slog"
	"os"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/storage"
)

// RolledBackDir is where the launcher moves the data directory a rollback
// replaced (see launcher/doc.go).
const RolledBackDir = "data.rolled-back"

// importRolledBack offers every fact of the journal a launcher rollback
// set aside back to the node, through the validation pipeline. A rollback
// restores the data checkpoint taken before the cutover; without this, the
// facts written since (a revocation, a failure report, an approval, other
// nodes' writes) would be gone from this node, and from the network if
// every node rolled back at once. The directory is renamed once imported.
// The upgrade manager waits for it (upgradeState.importing): acting on
// the restored journal alone, it would record the rollback's result
// against a state from before the cutover and could cut over again to a
// release whose revocation or failure only the set-aside journal holds.
func (n *Node) importRolledBack(ctx context.Context, home Home, log *slog.Logger) {
	defer n.upg.importing.Store(false)
	dir := home.Path(RolledBackDir)
	if _, err := os.Stat(dir); err != nil {
		return
	}
	imported, err := n.importJournal(ctx, dir, log)
	if err != nil {
		log.Warn("could not import the journal a rollback set aside; its facts come back only from peers", "dir", dir, "err", err)
		return
	}
	done := dir + ".imported"
	_ = os.RemoveAll(done)
	if err := os.Rename(dir, done); err != nil {
		log.Warn("renaming the imported rolled-back journal failed", "err", err)
	}
	log.Info("imported the facts of the journal a rollback set aside", "facts", imported, "dir", done)
}

func (n *Node) importJournal(ctx context.Context, dir string, log *slog.Logger) (int, error) {
	j, err := storage.OpenPebble(dir, storage.PebbleOptions{Logger: log.With("component", "pebble", "journal", "rolled-back")})
	if err != nil {
		return 0, err
	}
	defer j.Close()
	lim := n.gov.Load().Limits()
	accepted := 0
	var after storage.TimeKey
	for {
		page, err := j.ScanTime(after, 1000)
		if err != nil {
			return accepted, err
		}
		var cs []facts.Checked
		for _, it := range page {
			raw, ok, err := j.GetFact(it.CID)
			if err != nil || !ok {
				continue
			}
			if has, _ := n.journal.HasFact(it.CID); has {
				continue
			}
			if c, v := facts.CheckStateless(n.netID, raw, lim); v.Result == facts.Accept {
				cs = append(cs, c)
			}
		}
		if len(cs) > 0 {
			vs, err := n.offer(ctx, cs, sourceSync)
			if err != nil {
				return accepted, err
			}
			for _, v := range vs {
				if v.Result == facts.Accept {
					accepted++
				}
			}
		}
		if len(page) < 1000 {
			return accepted, nil
		}
		after = page[len(page)-1].Key()
	}
}
