package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// TokenPrefix starts every API token, so that leaked tokens are easy to
// find with secret scanners.
const TokenPrefix = "trt_"

// newSecret returns a random URL-safe secret of n random bytes.
func newSecret(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// newToken returns a new API token and its public prefix (shown in lists).
func newToken() (token, prefix string) {
	token = TokenPrefix + newSecret(32)
	return token, token[:len(TokenPrefix)+6]
}

// hashSecret is how tokens and session ids are stored: SHA-256 is enough
// for 256-bit random secrets (no dictionary to attack), and it lets the
// database look them up by hash.
func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// argon2id parameters (RFC 9106's second recommended option, lighter on
// memory for API servers).
const (
	argonTime    = 3
	argonMemory  = 64 * 1024
	argonThreads = 2
	argonKeyLen  = 32
)

// HashPassword returns an argon2id hash in PHC string format.
func HashPassword(password string) string {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

var errBadHash = errors.New("malformed password hash")

// CheckPassword reports whether password matches the PHC-format hash.
func CheckPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	var mem, iters uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iters, &threads); err != nil {
		return false, errBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, iters, mem, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is checked against when the e-mail is unknown, so that the
// answer takes as long as for a wrong password: an argon2id hash, with the
// parameters above, of a password nobody has. It is a constant, not
// computed at start-up, which cost every teleread command (a `teleread
// upload` of one folder, say) about 0.4 s of CPU and 64 MiB
// (TestDummyHashMatchesParameters keeps it in step with them).
const dummyHash = "$argon2id$v=19$m=65536,t=3,p=2$18amwMjB78juww58VUGxKw$H/IXr8QWavWuqpzpurmn6rbDMPpvfFTnEZtXmmuV3k4"
