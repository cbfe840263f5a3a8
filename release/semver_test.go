package release_test

import (
	"errors"
	"testing"

	"github.com/aura-node/aura-node/release"
)

func TestParseVersion(t *testing.T) {
	for _, s := range []string{
		"0.0.0", "1.2.3", "10.20.30", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0.3.7",
		"1.0.0-x.7.z.92", "1.0.0-x-y-z.--", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85",
		"1.0.0+21AF26D3----117B344092BD", "1.0.0+001", "18446744073709551615.0.0",
	} {
		v, err := release.ParseVersion(s)
		if err != nil {
			t.Errorf("ParseVersion(%q): %v", s, err)
			continue
		}
		if v.String() != s {
			t.Errorf("ParseVersion(%q).String() = %q", s, v.String())
		}
	}
	for _, s := range []string{
		"", "1", "1.2", "1.2.3.4", "v1.2.3", "01.2.3", "1.02.3", "1.2.03", "1.2.3-", "1.2.3+",
		"1.2.3-01", "1.2.3-a..b", "1.2.3+a..b", "1.2.3-a_b", " 1.2.3", "1.2.3 ", "-1.2.3",
		"18446744073709551616.0.0", "1.2.3-ü",
	} {
		if _, err := release.ParseVersion(s); !errors.Is(err, release.ErrBadVersion) {
			t.Errorf("ParseVersion(%q) err = %v, want ErrBadVersion", s, err)
		}
	}
}

func TestVersionPrecedence(t *testing.T) {
	// semver.org section 11, in increasing order.
	ordered := []string{
		"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0-99999999999999999999999",
		"2.0.0-100000000000000000000000", "2.0.0-a", "2.0.0", "2.1.1", "10.0.0",
	}
	for i := range ordered {
		for j := range ordered {
			a, _ := release.ParseVersion(ordered[i])
			b, _ := release.ParseVersion(ordered[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	a, _ := release.ParseVersion("1.0.0+a")
	b, _ := release.ParseVersion("1.0.0+b")
	if a.Compare(b) != 0 {
		t.Error("build metadata affects precedence")
	}
}
