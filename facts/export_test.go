package facts

// DigestOfEntries recomputes the state digest from scratch over every state
// entry except the accumulator itself, for tests that check the
// incrementally maintained accumulator against it.
func DigestOfEntries(entries map[string][]byte) Digest {
	var acc ltHash
	for k, v := range entries {
		if k == string(accumKey()) {
			continue
		}
		acc.addEntry([]byte(k), v, false)
	}
	return acc.digest()
}
