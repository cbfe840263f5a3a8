package cache

import "testing"

func TestValidity(t *testing.T) {
	for _, tc := range []struct {
		epoch, floor uint64
		valid        bool
	}{
		{0, 0, true}, {1, 0, true}, {0, 1, false}, {5, 5, true}, {4, 5, false},
	} {
		if got := Valid(tc.epoch, tc.floor); got != tc.valid {
			t.Errorf("Valid(%d, %d) = %v, want %v", tc.epoch, tc.floor, got, tc.valid)
		}
	}
}

func TestGetCountsHitsMissesInvalidations(t *testing.T) {
	c := New(10)
	c.Set("a", []byte("1"), 0)
	if l := c.Get("a", 0); !l.Valid || string(l.Value) != "1" {
		t.Fatalf("want hit, got %+v", l)
	}
	if l := c.Get("b", 0); l.Present || l.Valid {
		t.Fatalf("want absent miss, got %+v", l)
	}
	if l := c.Get("a", 1); !l.Present || l.Valid {
		t.Fatalf("want present but invalid, got %+v", l)
	}
	if l := c.Get("a", 0); l.Present {
		t.Fatalf("invalid entry must be dropped, got %+v", l)
	}
	s := c.Stats()
	if s.Hits != 1 || s.Misses != 3 || s.Invalidations != 1 || s.Entries != 0 {
		t.Fatalf("stats %+v", s)
	}
	if r := s.HitRate(); r != 0.25 {
		t.Fatalf("hit rate %v", r)
	}
}

func TestInvalidatedDropsOnlyEntriesBelowFloor(t *testing.T) {
	c := New(10)
	c.Set("old", []byte("x"), 1)
	c.Set("new", []byte("y"), 3)
	c.Set("other", []byte("z"), 0)
	if n := c.Invalidated([]string{"old", "new", "missing"}, 2); n != 1 {
		t.Fatalf("dropped %d, want 1", n)
	}
	q := c.Query("", func(string) uint64 { return 0 })
	if len(q) != 2 || q[0].Key != "new" || q[1].Key != "other" {
		t.Fatalf("query %+v", q)
	}
}

func TestBounded(t *testing.T) {
	c := New(2)
	c.Set("a", nil, 0)
	c.Set("b", nil, 0)
	c.Set("c", nil, 0)
	if s := c.Stats(); s.Entries != 2 {
		t.Fatalf("entries %d, want 2", s.Entries)
	}
}
