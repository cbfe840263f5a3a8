package antientropy

import (
	"errors"
	"fmt"
)

// ErrMalformed marks messages that break the protocol.
var ErrMalformed = errors.New("antientropy: malformed message")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// appendVarint appends n in Negentropy's varint: big-endian base 128, the
// high bit set on every byte but the last.
func appendVarint(b []byte, n uint64) []byte {
	var tmp [10]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			break
		}
	}
	for j := i; j < len(tmp)-1; j++ {
		tmp[j] |= 0x80
	}
	return append(b, tmp[i:]...)
}

// reader consumes a message.
type reader struct {
	b []byte
}

func (r *reader) empty() bool { return len(r.b) == 0 }

func (r *reader) varint() (uint64, error) {
	var n uint64
	for i := 0; ; i++ {
		if len(r.b) == 0 {
			return 0, malformed("varint ends prematurely")
		}
		if i == 10 || n>>57 != 0 {
			return 0, malformed("varint overflows 64 bits")
		}
		c := r.b[0]
		r.b = r.b[1:]
		n = n<<7 | uint64(c&0x7f)
		if c&0x80 == 0 {
			return n, nil
		}
	}
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || len(r.b) < n {
		return nil, malformed("message ends prematurely: want %d bytes, have %d", n, len(r.b))
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out, nil
}
