package node

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"

	"github.com/ipfs/go-cid"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/storage"
)

// Backup archive layout (a tar, encrypted by the CLI with age):
//
//	genesis.cbor       the network's genesis fact
//	proposal.cbor      the latest snapshot's proposal fact   (if any)
//	completion.cbor    the latest snapshot's completion fact (if any)
//	blob.cbor          the latest snapshot's state blob      (if any)
//	journal.cbor       CBOR list of every other journal fact (the tail)
//	manifest.json      format, network, snapshot, and the SHA-256 and
//	                   size of every file above; written last
//
// Restore reads everything, checks the manifest (no file missing, extra,
// altered or truncated), verifies the blob against the genesis, hydrates
// and replays the tail through the validation pipeline.

// BackupFormat is the archive format version.
const BackupFormat = 1

// backupManifest is manifest.json.
type backupManifest struct {
	Format   int                   `json:"format"`
	Network  string                `json:"network"`
	Snapshot *backupSnapshot       `json:"snapshot,omitempty"`
	Files    map[string]backupFile `json:"files"`
	Facts    int                   `json:"journal_facts"`
}

type backupSnapshot struct {
	Epoch      uint64 `json:"epoch"`
	Proposal   string `json:"proposal"`
	Completion string `json:"completion"`
	Blob       string `json:"blob"`
}

type backupFile struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Limits on what restore reads.
const (
	maxBackupFiles     = 8
	maxBackupFileBytes = 16 << 30
)

// ErrBadBackup marks an archive restore refuses.
var ErrBadBackup = errors.New("node: backup archive refused")

// Backup implements api.Backend.
func (n *Node) Backup(ctx context.Context, w io.Writer, started func()) error {
	gov := n.gov.Load()
	files := map[string][]byte{"genesis.cbor": n.genesis}
	m := backupManifest{Format: BackupFormat, Network: n.netID.String(), Files: map[string]backupFile{}}
	if last, ok := gov.LastSnapshot(); ok {
		blob, ok, err := n.blobs.get(last.BlobID())
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: this node does not hold the blob of the snapshot of epoch %d yet (see `aura-node snapshot status`)", api.ErrConflict, last.Epoch)
		}
		for name, id := range map[string]interface{ Bytes() []byte }{"proposal.cbor": last.ProposalID(), "completion.cbor": last.CompletionID()} {
			raw, ok, err := n.journal.GetFact(mustCast(id.Bytes()))
			if err != nil || !ok {
				return fmt.Errorf("node: snapshot fact %s: %v", name, err)
			}
			files[name] = raw
		}
		files["blob.cbor"] = blob
		m.Snapshot = &backupSnapshot{Epoch: last.Epoch, Proposal: last.ProposalID().String(), Completion: last.CompletionID().String(), Blob: last.BlobID().String()}
	}
	var tail [][]byte
	var after storage.TimeKey
	for {
		page, err := n.journal.ScanTime(after, storage.MaxLimit)
		if err != nil {
			return err
		}
		for _, it := range page {
			raw, ok, err := n.journal.GetFact(it.CID)
			if err != nil {
				return err
			}
			if ok && !it.CID.Equals(n.netID) {
				tail = append(tail, raw)
			}
		}
		if len(page) < storage.MaxLimit {
			break
		}
		after = page[len(page)-1].Key()
	}
	journal, err := facts.Marshal(tail)
	if err != nil {
		return err
	}
	files["journal.cbor"] = journal
	m.Facts = len(tail)
	names := make([]string, 0, len(files))
	for name, b := range files {
		sum := sha256.Sum256(b)
		m.Files[name] = backupFile{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b))}
		names = append(names, name)
	}
	sort.Strings(names)
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	started()
	tw := tar.NewWriter(w)
	for _, name := range append(names, "manifest.json") {
		b := files[name]
		if name == "manifest.json" {
			b = mj
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(b)), Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	return tw.Close()
}

// RestoreReport says what a restore did.
type RestoreReport struct {
	Network       string
	SnapshotEpoch *uint64
	StateEntries  int
	Replayed      int
	Skipped       int
	Facts         uint64
	Epoch         uint64
	Digest        facts.Digest
}

// Restore rebuilds a home's journal from a backup archive (the decrypted
// tar). The home must have keys and config (`init --keys-only` or a full
// init of the same network) and no journal yet. Nothing is written until
// the whole archive has been read and checked.
func Restore(home Home, r io.Reader, log *slog.Logger) (*RestoreReport, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	files, m, err := readBackup(r)
	if err != nil {
		return nil, err
	}
	genesisRaw := files["genesis.cbor"]
	netID := facts.ComputeID(genesisRaw)
	if netID.String() != m.Network {
		return nil, fmt.Errorf("%w: genesis is network %s, manifest says %s", ErrBadBackup, netID, m.Network)
	}
	genesis, v := facts.CheckStateless(netID, genesisRaw, facts.Limits{})
	if v.Result != facts.Accept {
		return nil, fmt.Errorf("%w: genesis: %v", ErrBadBackup, v.Reason)
	}
	if own, id, err := home.LoadGenesis(); err == nil {
		if !id.Equals(netID) {
			return nil, fmt.Errorf("%w: the archive is of network %s, this home of %s", ErrBadBackup, netID, id)
		}
		_ = own
	} else if errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrNoHome) {
		if _, err := home.WriteGenesis(genesisRaw); err != nil {
			return nil, err
		}
	} else {
		return nil, err
	}
	var vb *facts.VerifiedBlob
	var prop, comp facts.Checked
	if m.Snapshot != nil {
		var v facts.Verdict
		if prop, v = facts.CheckStateless(netID, files["proposal.cbor"], facts.Limits{}); v.Result != facts.Accept {
			return nil, fmt.Errorf("%w: snapshot proposal: %v", ErrBadBackup, v.Reason)
		}
		if comp, v = facts.CheckStateless(netID, files["completion.cbor"], facts.Limits{}); v.Result != facts.Accept {
			return nil, fmt.Errorf("%w: snapshot completion: %v", ErrBadBackup, v.Reason)
		}
		if vb, err = facts.VerifyBlob(genesis, files["blob.cbor"], prop, comp); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadBackup, err)
		}
	}
	var tailRaw [][]byte
	if err := facts.UnmarshalBulk(files["journal.cbor"], &tailRaw); err != nil {
		return nil, fmt.Errorf("%w: journal.cbor: %v", ErrBadBackup, err)
	}
	if len(tailRaw) != m.Facts {
		return nil, fmt.Errorf("%w: journal.cbor holds %d facts, manifest says %d", ErrBadBackup, len(tailRaw), m.Facts)
	}
	dataDir := home.Path(DataDir)
	if ents, err := os.ReadDir(dataDir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%w: %s already holds a journal; restore into a fresh home (init --keys-only)", ErrBadBackup, dataDir)
	}
	journal, err := storage.OpenPebble(dataDir, storage.PebbleOptions{Logger: log})
	if err != nil {
		return nil, err
	}
	defer journal.Close()
	rep := &RestoreReport{Network: netID.String()}
	txn := facts.NewTxn(journal)
	if v, err := txn.Apply(genesis); err != nil || v.Result != facts.Accept {
		return nil, fmt.Errorf("node: restore: genesis: %v %v", v, err)
	}
	if err := commitTxn(journal, txn); err != nil {
		return nil, err
	}
	if vb != nil {
		state := append(append([]facts.StateWrite(nil), vb.Blob.State...), vb.Accumulator)
		if err := journal.Hydrate(state, vb.Kept, nil); err != nil {
			return nil, err
		}
		blobs := newBlobStore(home.Path(SnapshotsDir))
		if err := blobs.put(facts.ComputeID(files["blob.cbor"]), files["blob.cbor"]); err != nil {
			return nil, err
		}
		e := vb.Blob.Epoch
		rep.SnapshotEpoch, rep.StateEntries = &e, len(vb.Blob.State)
		tailRaw = append([][]byte{files["proposal.cbor"], files["completion.cbor"]}, tailRaw...)
	}
	gov, err := facts.ReadGovernance(journal)
	if err != nil {
		return nil, err
	}
	var pending []facts.Checked
	for i, raw := range tailRaw {
		c, v := facts.CheckStateless(netID, raw, gov.Limits())
		if v.Result != facts.Accept {
			return nil, fmt.Errorf("%w: journal fact %d: %v", ErrBadBackup, i, v.Reason)
		}
		pending = append(pending, c)
	}
	sort.SliceStable(pending, func(i, j int) bool { return pending[i].Fact().Time < pending[j].Fact().Time })
	for len(pending) > 0 {
		var next []facts.Checked
		txn := facts.NewTxn(journal)
		for _, c := range pending {
			v, err := txn.Apply(c)
			if err != nil {
				return nil, err
			}
			switch {
			case v.Result == facts.Accept:
				rep.Replayed++
			case holdable(v.Reason):
				next = append(next, c)
			default:
				rep.Skipped++
			}
			if txn.Len() >= 5000 {
				if err := commitTxn(journal, txn); err != nil {
					return nil, err
				}
				txn = facts.NewTxn(journal)
			}
		}
		if err := commitTxn(journal, txn); err != nil {
			return nil, err
		}
		if len(next) == len(pending) {
			rep.Skipped += len(next)
			break
		}
		pending = next
	}
	if gov, err = facts.ReadGovernance(journal); err != nil {
		return nil, err
	}
	rep.Epoch = gov.CurrentEpoch()
	rep.Facts, _ = journal.Count()
	rep.Digest, err = facts.ReadDigest(journal)
	return rep, err
}

func commitTxn(j storage.Journal, txn *facts.Txn) error {
	if txn.Len() == 0 {
		return nil
	}
	b, err := txn.Commit()
	if err != nil {
		return err
	}
	return j.Commit(b)
}

// readBackup reads and checks the archive: every file named by the
// manifest present once with its size and SHA-256, nothing else.
func readBackup(r io.Reader) (map[string][]byte, *backupManifest, error) {
	tr := tar.NewReader(r)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: the archive is truncated or damaged: %v", ErrBadBackup, err)
		}
		if h.Typeflag != tar.TypeReg || h.Size < 0 || h.Size > maxBackupFileBytes {
			return nil, nil, fmt.Errorf("%w: unexpected entry %q", ErrBadBackup, h.Name)
		}
		if _, dup := files[h.Name]; dup || len(files) >= maxBackupFiles {
			return nil, nil, fmt.Errorf("%w: duplicate or extra entry %q", ErrBadBackup, h.Name)
		}
		var buf bytes.Buffer
		if _, err := io.CopyN(&buf, tr, h.Size); err != nil {
			return nil, nil, fmt.Errorf("%w: %s is truncated: %v", ErrBadBackup, h.Name, err)
		}
		files[h.Name] = buf.Bytes()
	}
	mj, ok := files["manifest.json"]
	if !ok {
		return nil, nil, fmt.Errorf("%w: no manifest.json (the archive is truncated or not an aura-node backup)", ErrBadBackup)
	}
	delete(files, "manifest.json")
	var m backupManifest
	if err := json.Unmarshal(mj, &m); err != nil {
		return nil, nil, fmt.Errorf("%w: manifest.json: %v", ErrBadBackup, err)
	}
	if m.Format != BackupFormat {
		return nil, nil, fmt.Errorf("%w: format %d, this build reads %d", ErrBadBackup, m.Format, BackupFormat)
	}
	want := []string{"genesis.cbor", "journal.cbor"}
	if m.Snapshot != nil {
		want = append(want, "proposal.cbor", "completion.cbor", "blob.cbor")
	}
	if len(m.Files) != len(want) || len(files) != len(want) {
		return nil, nil, fmt.Errorf("%w: the archive holds %d files, the manifest lists %d, expected %d", ErrBadBackup, len(files), len(m.Files), len(want))
	}
	for _, name := range want {
		b, ok := files[name]
		mf, listed := m.Files[name]
		if !ok || !listed {
			return nil, nil, fmt.Errorf("%w: %s is missing", ErrBadBackup, name)
		}
		sum := sha256.Sum256(b)
		if int64(len(b)) != mf.Size || hex.EncodeToString(sum[:]) != mf.SHA256 {
			return nil, nil, fmt.Errorf("%w: %s does not match its manifest entry (tampered or truncated)", ErrBadBackup, name)
		}
	}
	return files, &m, nil
}

func mustCast(b []byte) cid.Cid {
	c, _ := cid.Cast(b)
	return c
}
