package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/node"
)

// backupSecrets are the ways to encrypt or decrypt a backup.
type backupSecrets struct {
	passphraseFile string
	recipients     []string
	identityFile   string
}

func (s *backupSecrets) passphrase() (string, error) {
	if s.passphraseFile != "" {
		b, err := os.ReadFile(s.passphraseFile)
		if err != nil {
			return "", fmt.Errorf("reading the passphrase: %w", err)
		}
		p := strings.TrimRight(string(b), "\r\n")
		if p == "" {
			return "", fmt.Errorf("%s holds an empty passphrase", s.passphraseFile)
		}
		return p, nil
	}
	return os.Getenv("AURA_BACKUP_PASSPHRASE"), nil
}

func (s *backupSecrets) ageRecipients() ([]age.Recipient, error) {
	var out []age.Recipient
	for _, r := range s.recipients {
		rc, err := age.ParseX25519Recipient(r)
		if err != nil {
			return nil, fmt.Errorf("recipient %q: %w", r, err)
		}
		out = append(out, rc)
	}
	p, err := s.passphrase()
	if err != nil {
		return nil, err
	}
	if p != "" {
		if len(out) > 0 {
			return nil, errors.New("use either a passphrase or --recipient, not both (age allows a passphrase only alone)")
		}
		sr, err := age.NewScryptRecipient(p)
		if err != nil {
			return nil, err
		}
		out = append(out, sr)
	}
	if len(out) == 0 {
		return nil, errors.New("no way to encrypt: give --recipient age1..., --passphrase-file FILE, or set AURA_BACKUP_PASSPHRASE")
	}
	return out, nil
}

func (s *backupSecrets) ageIdentities() ([]age.Identity, error) {
	var out []age.Identity
	if s.identityFile != "" {
		f, err := os.Open(s.identityFile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		ids, err := age.ParseIdentities(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.identityFile, err)
		}
		out = append(out, ids...)
	}
	p, err := s.passphrase()
	if err != nil {
		return nil, err
	}
	if p != "" {
		si, err := age.NewScryptIdentity(p)
		if err != nil {
			return nil, err
		}
		out = append(out, si)
	}
	if len(out) == 0 {
		return nil, errors.New("no way to decrypt: give --identity FILE, --passphrase-file FILE, or set AURA_BACKUP_PASSPHRASE")
	}
	return out, nil
}

func (a *app) backupCmd() *cobra.Command {
	var out string
	var sec backupSecrets
	cmd := &cobra.Command{
		Use:   "backup --out FILE (--passphrase-file F | --recipient AGE_RECIPIENT...)",
		Short: "Write an encrypted backup: the latest snapshot and the journal tail",
		Long: `Write an age-encrypted archive of this node's latest snapshot (its proposal,
completion certificate and state blob) and every journal fact above it.
The archive can be restored on another machine into a fresh home with
` + "`aura-node restore`" + `, which verifies everything before writing.

Encrypt to a passphrase (--passphrase-file, or $AURA_BACKUP_PASSPHRASE) or
to one or more age X25519 recipients (--recipient age1...).`,
		Example: `  aura-node backup --out /backups/node1.age --passphrase-file ~/.aura-backup-pass
  aura-node backup --out node1.age --recipient age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("--out FILE is required")
			}
			rcpts, err := sec.ageRecipients()
			if err != nil {
				return err
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			tmp, err := os.CreateTemp(filepath.Dir(out), ".aura-backup-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			enc, err := age.Encrypt(tmp, rcpts...)
			if err != nil {
				tmp.Close()
				return err
			}
			n, err := c.Backup(cmd.Context(), enc)
			if err != nil {
				tmp.Close()
				return c.wrap(err)
			}
			if err := enc.Close(); err != nil {
				tmp.Close()
				return err
			}
			if err := tmp.Sync(); err != nil {
				tmp.Close()
				return err
			}
			if err := tmp.Close(); err != nil {
				return err
			}
			if err := os.Rename(tmp.Name(), out); err != nil {
				return err
			}
			fi, _ := os.Stat(out)
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s archive, %s encrypted\n", out, humanBytes(uint64(n)), humanBytes(uint64(fi.Size())))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "backup file to write")
	cmd.Flags().StringVar(&sec.passphraseFile, "passphrase-file", "", "file holding the passphrase (default: $AURA_BACKUP_PASSPHRASE)")
	cmd.Flags().StringArrayVar(&sec.recipients, "recipient", nil, "age X25519 recipient (age1...); repeatable")
	return cmd
}

func (a *app) restoreCmd() *cobra.Command {
	var sec backupSecrets
	cmd := &cobra.Command{
		Use:   "restore FILE (--passphrase-file F | --identity AGE_IDENTITY_FILE)",
		Short: "Restore a backup into a fresh home: verify, hydrate, replay",
		Long: `Restore an archive written by ` + "`aura-node backup`" + ` into this home, which
must have keys (` + "`aura-node init --keys-only`" + `, or a full init of the same
network) and no journal yet. The archive is decrypted and checked whole
before anything is written: age refuses a damaged or truncated file, the
manifest's SHA-256 sums must match, the snapshot blob must hash to the CID
its certificate names and the certificate must verify against the roster
chain replayed from the genesis. Then the state is hydrated from the blob
and the journal tail replayed through the validation pipeline. Start the
node afterwards with ` + "`aura-node run`" + `; anti-entropy fetches anything newer.`,
		Example: `  aura-node --home /srv/restored init --keys-only
  aura-node --home /srv/restored restore node1.age --passphrase-file ~/.aura-backup-pass
  aura-node --home /srv/restored run`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := sec.ageIdentities()
			if err != nil {
				return err
			}
			home, err := node.OpenHome(a.home)
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			dec, err := age.Decrypt(f, ids...)
			if err != nil {
				return fmt.Errorf("%s cannot be decrypted (wrong passphrase or identity, or not an age file): %w", args[0], err)
			}
			rep, err := node.Restore(home, dec, nil)
			if err != nil {
				return fmt.Errorf("restore from %s refused: %w", args[0], err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "restored network %s into %s\n", rep.Network, home.Dir)
			if rep.SnapshotEpoch != nil {
				fmt.Fprintf(out, "  snapshot of epoch %d verified, %d state entries hydrated\n", *rep.SnapshotEpoch, rep.StateEntries)
			}
			fmt.Fprintf(out, "  %d journal facts replayed, %d skipped (below the snapshot or duplicates)\n", rep.Replayed, rep.Skipped)
			fmt.Fprintf(out, "  epoch %d, %d facts, state digest %s\n", rep.Epoch, rep.Facts, rep.Digest)
			return nil
		},
	}
	cmd.Flags().StringVar(&sec.passphraseFile, "passphrase-file", "", "file holding the passphrase (default: $AURA_BACKUP_PASSPHRASE)")
	cmd.Flags().StringVar(&sec.identityFile, "identity", "", "age identity file (AGE-SECRET-KEY-1...)")
	return cmd
}
