// Package storage is the node's fact journal: the canonical bytes of every
// accepted fact, four secondary indexes over them, the replicated state
// entries the reducer wrote, and a fact count.
//
// It owns the on-disk layout and the atomicity of a commit, nothing else.
// It never validates or reduces facts (facts/ does that) and never decides
// what to store: it writes exactly the facts.Batch a facts.Txn produced,
// which can only hold facts.Verified values. It implements
// facts.StateReader, the one interface the reducer reads through.
//
// Two implementations satisfy Journal and pass one conformance suite
// (storagetest.Run): *Pebble, on disk, for the node, and *Memory, its
// in-memory twin, for tests of other packages.
//
// # Atomicity
//
// Commit writes a whole batch in one Pebble batch committed with
// pebble.Sync: the facts, their index entries, the state writes and the
// new fact count become visible and durable together, or, after a crash,
// not at all. So the journal and the state it was reduced to never
// disagree, and facts.ReadDigest after a restart equals the Digest of the
// last batch committed. Committing a fact the journal already holds writes
// nothing for it and does not count it again; the batch's state writes
// still apply. A state write with a nil Value deletes the entry.
//
// Commits are serialised; reads run concurrently with them and each read
// sees a commit entirely or not at all. After Close every method returns
// ErrClosed.
//
// # Key layout
//
// The first byte of every key names its table. Integers are big-endian so
// byte order is numeric order; id is the 32-byte sha2-256 digest of the
// fact's CID (FactDigest), cid is the CID's binary form.
//
//	f cid                            -> canonical fact bytes
//	t time(8) id(32)                 -> index value   (timestamp index)
//	k kind(2) time(8) id(32)         -> index value   (kind index)
//	e epoch(8) time(8) id(32)        -> index value   (epoch index)
//	a author(32) time(8) id(32)      -> index value   (author index)
//	s statekey                       -> state value   (facts.StateWrite)
//	m "format"                       -> FormatVersion (8)
//	m "facts"                        -> fact count (8)
//	m "migration/" to(4)             -> from(4) name  (one per migration run)
//
// An index value is kind(2) epoch(8) time(8) author(32) cid, so List
// builds an Entry without reading or decoding the fact. Every index sorts
// its facts by (time, id), the order anti-entropy walks with ScanTime.
//
// A new database is stamped with FormatVersion. OpenPebble refuses a
// database stamped with a newer version (ErrFormatTooNew), a Pebble
// database without a stamp and a non-empty directory without a database
// (ErrNotJournal).
//
// # Migrations
//
// An older database is migrated on open (migrate.go): the registry
// (BuiltinMigrations, or PebbleOptions.Migrations) lists ordered steps
// From -> From+1, each with an optional Validate, an Execute and an
// optional Rollback. Each step runs once, in one synced batch with the
// format bump and its history record; Migrated returns what this open ran
// (the node records each as a MigrationApplied fact) and MigrationHistory
// everything ever recorded. Going back across a step restores the
// checkpoint the launcher took before cutover; MigrateDown undoes steps
// that have a Rollback.
//
// # Queries
//
// List answers from one index: the kind index when Query.Kind is set, else
// the author index when Query.Author is set, else the epoch index when
// Query.Epoch is set, else the timestamp index; Since and Until bound the
// scan, and the other fields filter it. Results are in (time, id) order,
// reversed when Query.Newest is set, and at most Query.Limit long.
//
// ScanTime walks the timestamp index strictly after a cursor; pass the
// last item's Key() to continue.
//
// # Usage sketch
//
//	j, err := storage.OpenPebble(dir, storage.PebbleOptions{Logger: log})
//	if err != nil { ... }
//	defer j.Close()
//
//	txn := facts.NewTxn(j)               // reads state through j
//	... txn.Apply(checked) ...
//	batch, err := txn.Commit()
//	if err := j.Commit(batch); err != nil { ... } // one atomic write
//
//	recent, err := j.List(storage.Query{Kind: facts.KindData, Newest: true, Limit: 20})
//
//	var cur storage.TimeKey              // anti-entropy: walk in time order
//	for {
//		items, err := j.ScanTime(cur, 1000)
//		if err != nil || len(items) == 0 { break }
//		... items ...
//		cur = items[len(items)-1].Key()
//	}
package storage
