//go:build race

package facts_test

// raceEnabled lets slow property tests run fewer iterations under -race.
const raceEnabled = true
