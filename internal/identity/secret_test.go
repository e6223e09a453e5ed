package identity

import (
	"fmt"
	"testing"

	"golang.org/x/crypto/argon2"
)

// TestDummyHashMatchesParameters: the hash checked for an unknown e-mail
// must cost what a real password's check costs, so it must be a valid
// hash with today's parameters (a mismatch would make unknown e-mails
// answer faster, or slower, than wrong passwords).
func TestDummyHashMatchesParameters(t *testing.T) {
	t.Parallel()
	prefix := fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$", argon2.Version, argonMemory, argonTime, argonThreads)
	if len(dummyHash) <= len(prefix) || dummyHash[:len(prefix)] != prefix {
		t.Fatalf("dummyHash %q does not start with %q: make it again with HashPassword", dummyHash, prefix)
	}
	ok, err := CheckPassword(dummyHash, "teleread-dummy-password")
	if err != nil || !ok {
		t.Fatalf("dummyHash does not check: ok=%v err=%v", ok, err)
	}
	if ok, _ := CheckPassword(dummyHash, "anything else"); ok {
		t.Fatal("dummyHash accepts another password")
	}
}
