package facts

import (
	"errors"
	"testing"
)

// TestUnmarshalBulkTakesLongLists: a snapshot blob or backup journal has
// one list element per state entry or fact, beyond the 65536 a fact may
// hold.
func TestUnmarshalBulkTakesLongLists(t *testing.T) {
	long := make([][]byte, 70000)
	for i := range long {
		long[i] = []byte{byte(i)}
	}
	raw, err := Marshal(long)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	if err := UnmarshalCanonical(raw, &out); !errors.Is(err, ErrMalformed) {
		t.Fatalf("UnmarshalCanonical of 70000 elements: %v, want ErrMalformed", err)
	}
	if err := UnmarshalBulk(raw, &out); err != nil || len(out) != len(long) {
		t.Fatalf("UnmarshalBulk: %d elements, %v", len(out), err)
	}
}
