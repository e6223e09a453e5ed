package delivery

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/teleread/teleread/internal/delivery/deliverydb"
)

// Webhook signing secrets are stored encrypted: AES-256-GCM under the key of
// TELEREAD_SECRET_KEY, as "enc:v1:<key id>:<base64url of nonce and
// ciphertext>". The key id is the first 8 hex digits of the key's SHA-256,
// so rotation needs no naming: the new key becomes TELEREAD_SECRET_KEY, the
// old one moves to TELEREAD_SECRET_KEYS_OLD (decrypt only), and a secret
// read under an old key, or stored in plaintext before encryption existed,
// is rewritten under the current key when it is next used
// (docs/operations.md, "Secrets").

const (
	sealedPrefix = "enc:v1:"
	// secretAAD binds a ciphertext to its purpose: it cannot be taken for
	// another kind of sealed value.
	secretAAD = "teleread webhook secret v1"
)

// ErrNoSecretKey is returned when a webhook secret must be sealed and no
// TELEREAD_SECRET_KEY is configured.
var ErrNoSecretKey = errors.New("no secret key is configured (TELEREAD_SECRET_KEY)")

// Keyring seals webhook secrets under a current key and opens them under
// it or an older one.
type Keyring struct {
	current string // key id; "" when no key is configured
	aeads   map[string]cipher.AEAD
}

// NewKeyring returns a Keyring of 32-byte keys: current seals and opens
// (nil: none, so nothing can be sealed), old only open.
func NewKeyring(current []byte, old ...[]byte) (*Keyring, error) {
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	add := func(key []byte) (string, error) {
		if len(key) != 32 {
			return "", fmt.Errorf("secret key: %d bytes, want 32", len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return "", fmt.Errorf("secret key: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return "", fmt.Errorf("secret key: %w", err)
		}
		id := KeyID(key)
		k.aeads[id] = aead
		return id, nil
	}
	for _, o := range old {
		if _, err := add(o); err != nil {
			return nil, err
		}
	}
	if current != nil {
		id, err := add(current)
		if err != nil {
			return nil, err
		}
		k.current = id
	}
	return k, nil
}

// KeyID is the id a sealed value names its key by: the first 8 hex digits
// of the key's SHA-256 (which reveals nothing useful about the key).
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

var (
	ephemeralOnce sync.Once
	ephemeral     *Keyring
)

// ephemeralKeyring is the keyring of a Service given none (Options.Secrets
// nil): a random key held in memory by this process only, so secrets it
// seals cannot be read after a restart. Tests use it; the server is always
// given the configured keyring.
func ephemeralKeyring() *Keyring {
	ephemeralOnce.Do(func() {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			panic(fmt.Sprintf("ephemeral secret key: %v", err))
		}
		var err error
		if ephemeral, err = NewKeyring(key); err != nil {
			panic(err)
		}
	})
	return ephemeral
}

// Seal encrypts a secret under the current key.
func (k *Keyring) Seal(plain string) (string, error) {
	if k == nil || k.current == "" {
		return "", ErrNoSecretKey
	}
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal secret: %w", err)
	}
	sealed := aead.Seal(nonce, nonce, []byte(plain), []byte(secretAAD))
	return sealedPrefix + k.current + ":" + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Open decrypts a stored secret. stale reports that it should be stored
// again, sealed under the current key: it was plaintext (stored before
// secrets were encrypted) or sealed under an old key. The error never
// contains the stored value.
func (k *Keyring) Open(stored string) (plain string, stale bool, err error) {
	rest, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		if strings.HasPrefix(stored, "enc:") {
			return "", false, errors.New("open secret: unknown sealed format")
		}
		return stored, true, nil // a plaintext secret of before encryption
	}
	id, data, ok := strings.Cut(rest, ":")
	if !ok {
		return "", false, errors.New("open secret: malformed sealed value")
	}
	var aead cipher.AEAD
	if k != nil {
		aead = k.aeads[id]
	}
	if aead == nil {
		return "", false, fmt.Errorf("open secret: sealed under key %s, which is neither TELEREAD_SECRET_KEY nor in TELEREAD_SECRET_KEYS_OLD", id)
	}
	raw, err := base64.RawURLEncoding.DecodeString(data)
	if err != nil || len(raw) < aead.NonceSize() {
		return "", false, errors.New("open secret: malformed sealed value")
	}
	out, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(secretAAD))
	if err != nil {
		return "", false, fmt.Errorf("open secret: key %s does not authenticate it", id)
	}
	return string(out), id != k.current || k.current == "", nil
}

// webhookSecret opens the signing secret of a delivery's webhook, and
// stores it again under the current key when it was plaintext or sealed
// under an old key (the upgrade on read). A failed upgrade is not a failed
// delivery: the secret is rewritten at the next one.
func (s *Service) webhookSecret(ctx context.Context, d deliverydb.DeliveryGetRow) (string, error) {
	if d.WebhookSecret == nil || d.WebhookID == nil {
		return "", errors.New("the delivery has no webhook")
	}
	plain, stale, err := s.keys.Open(*d.WebhookSecret)
	if err != nil {
		return "", fmt.Errorf("webhook %s: %w", d.WebhookID, err)
	}
	if stale {
		if sealed, err := s.keys.Seal(plain); err == nil {
			_, _ = s.q.WebhookSecretUpdate(ctx, s.pool, deliverydb.WebhookSecretUpdateParams{ID: *d.WebhookID,
				Secret: sealed, OldSecret: *d.WebhookSecret})
		}
	}
	return plain, nil
}
