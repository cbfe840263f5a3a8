// Package bench measures aura-node against baselines taken in the same
// run, because the machines it runs on are shared and noisy: every figure
// it reports is a ratio to a baseline measured beside it.
//
// Ingest measures the whole path of a fact into the journal (decode,
// canonical check, batch signature verification, authorisation, reduction
// and an atomic Pebble commit) against raw Ed25519 batch verification of
// the same signatures, which is the floor no ingest can beat.
package bench
