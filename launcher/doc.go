// Package launcher is the parent process of a node: it owns the releases
// of a home, runs `aura-node run` from the active one, and switches
// releases — stage, cutover with health gates, rollback — so that a node
// never replaces itself in place, and so that kill -9 of the launcher or
// the node at any moment leaves, after a restart, the old or the new
// release active and healthy with its own data, never a mix.
//
// It is a shell, like node/: it does I/O, starts processes and
// goroutines, and reads the clock. It does not import node/ (the node
// imports it, to submit requests); it decides nothing about which release
// should run — the node's activation evaluator does, and asks.
//
// # Home layout
//
// Besides the node's files (config.json, keys, api.addr, data/):
//
//	releases/<id>/aura-node     one folder per release ID (binary, 0755)
//	releases/<id>/release.json  ReleaseInfo: id, version, sha256, size
//	releases/current            symlink -> <id>, the active release
//	releases/previous           symlink -> <id>, the one a rollback restores
//	checkpoints/<id>/           Pebble checkpoint of data/ taken while
//	                            release <id> was stopped, before a cutover
//	                            away from it
//	launcher/state.json         the intent log (State)
//	launcher/requests/<seq>.json requests (Request), written by Submit
//	launcher/results/<seq>.json  results (Result); <seq>.acked.json once
//	                            acknowledged
//	launcher/incoming/<id>      artifacts the node exports for stage
//	launcher/lock               flock: one launcher per home
//	launcher/launcher.pid, launcher/node.pid
//	data.rolled-back/           the data/ the last rollback replaced
//
// Every change is crash-safe on its own: files are written to a temporary
// name, fsynced and renamed; symlinks are switched by renaming a
// temporary symlink over them; releases and checkpoints are built in a
// temporary folder and renamed into place; the directory is fsynced after
// each rename.
//
// # Operations and the intent log
//
// A cutover or rollback spans several such changes, so before each step
// the launcher writes the step to state.json. Cutover (From -> To):
//
//	stopping       SIGTERM the node, SIGKILL after StopTimeout
//	checkpointing  Pebble checkpoint of data/ into checkpoints/<From>
//	switching      previous -> From, then current -> To
//	starting       start To; api.addr must appear within StartTimeout
//	               (else roll back, LauncherActivationFailed)
//	gating         GET /healthz and /readyz until 200 (health timeout),
//	               then each gate command (exit 0 within its timeout),
//	               then /healthz again; a failure, or the node exiting,
//	               rolls back (HealthGateFailed)
//
// Rollback (From -> To, To having checkpoints/<To>):
//
//	stopping   stop the node
//	restoring  copy checkpoints/<To> to data.restore (tables hard-linked,
//	           the rest copied, fsynced), move data/ to data.rolled-back,
//	           rename data.restore to data/
//	switching  current -> To; previous back to what it was before a
//	           failed cutover (if its checkpoint is there), else removed
//	starting   start To, wait for /healthz and /readyz
//
// After a successful cutover only checkpoints/<From> is kept; after a
// rollback only the one of the restored previous, if any (the restored
// checkpoint is spent). Going back across a
// storage migration is this restore: the new release migrated data/, the
// checkpoint holds the old format.
//
// On start, the launcher kills a node a crashed launcher left behind
// (launcher/node.pid; on Linux the kernel already killed it, the node is
// started with a parent-death signal), and before starting any node it
// recovers state.json deterministically:
//
//   - result already written: only the cleanup is left;
//   - cutover at stopping/checkpointing: nothing changed yet; resume;
//   - cutover at switching/starting/gating: resume (switch again, start To
//     afresh, gate it); success is ok, failure rolls back;
//   - a cutover found interrupted more than 3 times: abandoned (failed)
//     before switching, rolled back from switching on;
//   - rollback at any step: resume at that step (each is idempotent).
//
// So the node runs only from a release whose data is its own.
//
// # The node's side
//
// The node talks to its launcher through files, with this API:
//
//	seq, err := launcher.Submit(home, launcher.Request{
//		Action: launcher.ActionStage, ReleaseID: id, Version: v,
//		Artifact: launcher.IncomingPath(home, id), SHA256: hexSum, Origin: "node"})
//	...
//	seq, err = launcher.Submit(home, launcher.Request{
//		Action: launcher.ActionCutover, ReleaseID: id, Version: v,
//		Gates: gatesFromLocalConfig, HealthTimeoutMs: 60000, Origin: "node"})
//	...
//	results, err := launcher.Results(home) // unacknowledged, by seq
//	for _, r := range results {
//		... record an UpgradeExecution fact from r ...
//		launcher.Ack(home, r.Seq)
//	}
//
// A cutover stops the node that asked for it; the new node (or, after a
// rollback, the old one restarted) reads the result at start. The node
// sees AURA_LAUNCHER=1 and AURA_RELEASE_ID=<id> in its environment
// (Managed reads them).
// Gate commands must come from the node's local configuration, never from
// the network: the launcher runs them.
//
// # Crash injection
//
// Tests set AURA_LAUNCHER_CRASH_AT (Config.CrashAt) to one of
// "cutover:<step>", "rollback:<step>" (after the step is logged, before
// it runs), "cutover:switching/half" (previous switched, current not),
// "rollback:restoring/data-moved-aside" (data/ moved aside, the copy not
// yet in place) or "<action>:result-written"; the launcher then kills
// itself with SIGKILL.
package launcher
