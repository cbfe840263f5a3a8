package snapshot

import (
	"fmt"
	"testing"
)

// Benchmarks of the BLS operations a snapshot round performs: every
// member signs once, every node verifies each approval, one node
// aggregates, every node verifies the certificate.

func BenchmarkSign(b *testing.B) {
	privs, _ := testKeys(1)
	msg := ApprovalMessage([]byte("net"), 4, [32]byte{1}, []byte("p1"))
	for b.Loop() {
		Sign(privs[0], msg)
	}
}

func BenchmarkVerify(b *testing.B) {
	privs, pubs := testKeys(1)
	msg := ApprovalMessage([]byte("net"), 4, [32]byte{1}, []byte("p1"))
	sig := Sign(privs[0], msg)
	for b.Loop() {
		if err := Verify(pubs[0], msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParsePublicKey(b *testing.B) {
	_, pubs := testKeys(1)
	enc, _ := pubs[0].MarshalBinary()
	for b.Loop() {
		if _, err := ParsePublicKey(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRoster(n, m int) ([]PublicKey, []int, [][]byte, []byte) {
	privs, pubs := testKeys(n)
	msg := ApprovalMessage([]byte("net"), 4, [32]byte{1}, []byte("p1"))
	signers := make([]int, m)
	sigs := make([][]byte, m)
	for i := range m {
		signers[i] = i
		sigs[i] = Sign(privs[i], msg)
	}
	return pubs, signers, sigs, msg
}

func BenchmarkAggregate(b *testing.B) {
	for _, nm := range [][2]int{{5, 3}, {64, 33}} {
		b.Run(fmt.Sprintf("N=%d,M=%d", nm[0], nm[1]), func(b *testing.B) {
			pubs, signers, sigs, _ := benchRoster(nm[0], nm[1])
			for b.Loop() {
				if _, err := Aggregate(pubs, signers, sigs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyAggregate(b *testing.B) {
	for _, nm := range [][2]int{{5, 3}, {64, 33}} {
		b.Run(fmt.Sprintf("N=%d,M=%d", nm[0], nm[1]), func(b *testing.B) {
			pubs, signers, sigs, msg := benchRoster(nm[0], nm[1])
			agg, err := Aggregate(pubs, signers, sigs)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := VerifyAggregate(pubs, signers, msg, agg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
