package release

import (
	"strconv"
	"strings"
)

// MaxVersionLen bounds a version string.
const MaxVersionLen = 128

// Version is a parsed SemVer 2.0.0 version (https://semver.org), without
// a leading "v": MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD].
type Version struct {
	Major, Minor, Patch uint64
	// Pre holds the dot-separated pre-release identifiers; a version with
	// any ranks below the same version without.
	Pre []string
	// Build holds the build metadata identifiers; they do not affect
	// precedence.
	Build []string
}

// ParseVersion parses a SemVer 2.0.0 version. The grammar has exactly one
// text for each version (no leading zeros, no "v"), so a parsed version's
// String is the input.
func ParseVersion(s string) (Version, error) {
	var v Version
	if s == "" {
		return v, wrapf(ErrBadVersion, "empty version")
	}
	if len(s) > MaxVersionLen {
		return v, wrapf(ErrBadVersion, "%d bytes, limit %d", len(s), MaxVersionLen)
	}
	rest := s
	if i := strings.IndexByte(rest, '+'); i >= 0 {
		build := rest[i+1:]
		rest = rest[:i]
		ids, err := identifiers(s, build, false)
		if err != nil {
			return Version{}, err
		}
		v.Build = ids
	}
	if i := strings.IndexByte(rest, '-'); i >= 0 {
		pre := rest[i+1:]
		rest = rest[:i]
		ids, err := identifiers(s, pre, true)
		if err != nil {
			return Version{}, err
		}
		v.Pre = ids
	}
	core := strings.Split(rest, ".")
	if len(core) != 3 {
		return Version{}, wrapf(ErrBadVersion, "%q: want MAJOR.MINOR.PATCH", s)
	}
	for i, p := range []*uint64{&v.Major, &v.Minor, &v.Patch} {
		if !isNumeric(core[i]) || (len(core[i]) > 1 && core[i][0] == '0') {
			return Version{}, wrapf(ErrBadVersion, "%q: %q is not a number without leading zeros", s, core[i])
		}
		n, err := strconv.ParseUint(core[i], 10, 64)
		if err != nil {
			return Version{}, wrapf(ErrBadVersion, "%q: %q: %v", s, core[i], err)
		}
		*p = n
	}
	return v, nil
}

// identifiers splits and checks dot-separated identifiers: non-empty,
// [0-9A-Za-z-] only, and for pre-release identifiers no leading zero on a
// numeric one.
func identifiers(s, part string, pre bool) ([]string, error) {
	ids := strings.Split(part, ".")
	for _, id := range ids {
		if id == "" {
			return nil, wrapf(ErrBadVersion, "%q: empty identifier", s)
		}
		for i := 0; i < len(id); i++ {
			c := id[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return nil, wrapf(ErrBadVersion, "%q: identifier %q has %q", s, id, c)
			}
		}
		if pre && isNumeric(id) && len(id) > 1 && id[0] == '0' {
			return nil, wrapf(ErrBadVersion, "%q: numeric identifier %q has a leading zero", s, id)
		}
	}
	return ids, nil
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String returns the SemVer text.
func (v Version) String() string {
	var b strings.Builder
	b.WriteString(strconv.FormatUint(v.Major, 10))
	b.WriteByte('.')
	b.WriteString(strconv.FormatUint(v.Minor, 10))
	b.WriteByte('.')
	b.WriteString(strconv.FormatUint(v.Patch, 10))
	if len(v.Pre) > 0 {
		b.WriteByte('-')
		b.WriteString(strings.Join(v.Pre, "."))
	}
	if len(v.Build) > 0 {
		b.WriteByte('+')
		b.WriteString(strings.Join(v.Build, "."))
	}
	return b.String()
}

// Compare returns -1, 0 or +1 as v has lower, equal or higher precedence
// than w, by SemVer 2.0.0 section 11:
//  1. MAJOR, MINOR, PATCH compared numerically.
//  2. A version with pre-release identifiers ranks below one without.
//  3. Pre-release identifiers compared left to right: numeric ones
//     numerically, others in ASCII order, numeric below non-numeric; a
//     shorter list that is a prefix of the other ranks lower.
//  4. Build metadata is ignored: 1.0.0+a and 1.0.0+b have equal precedence
//     (the catalogue breaks that tie by release ID).
func (v Version) Compare(w Version) int {
	for _, p := range [][2]uint64{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		if p[0] != p[1] {
			if p[0] < p[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(v.Pre) == 0 && len(w.Pre) == 0:
		return 0
	case len(v.Pre) == 0:
		return 1
	case len(w.Pre) == 0:
		return -1
	}
	for i := 0; i < len(v.Pre) && i < len(w.Pre); i++ {
		if c := compareIdentifier(v.Pre[i], w.Pre[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(v.Pre) < len(w.Pre):
		return -1
	case len(v.Pre) > len(w.Pre):
		return 1
	}
	return 0
}

func compareIdentifier(a, b string) int {
	an, bn := isNumeric(a), isNumeric(b)
	switch {
	case an && bn:
		// No leading zeros, so the longer number is the larger; this
		// also orders numbers too large for uint64.
		if len(a) != len(b) {
			if len(a) < len(b) {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	case an:
		return -1
	case bn:
		return 1
	}
	return strings.Compare(a, b)
}
