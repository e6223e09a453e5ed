package delivery_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/identity"
)

func TestKeyring(t *testing.T) {
	t.Parallel()
	keyA, keyB := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	a, err := delivery.NewKeyring(keyA)
	require.NoError(t, err)
	sealed, err := a.Seal("whsec_plain")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(sealed, "enc:v1:"+delivery.KeyID(keyA)+":"), sealed)
	require.NotContains(t, sealed, "whsec_plain")
	again, err := a.Seal("whsec_plain")
	require.NoError(t, err)
	require.NotEqual(t, sealed, again, "a fresh nonce each time")

	plain, stale, err := a.Open(sealed)
	require.NoError(t, err)
	require.Equal(t, "whsec_plain", plain)
	require.False(t, stale)

	plain, stale, err = a.Open("whsec_legacy")
	require.NoError(t, err)
	require.Equal(t, "whsec_legacy", plain, "a plaintext secret of before encryption is read")
	require.True(t, stale, "and marked for rewriting")

	rotated, err := delivery.NewKeyring(keyB, keyA)
	require.NoError(t, err)
	plain, stale, err = rotated.Open(sealed)
	require.NoError(t, err)
	require.Equal(t, "whsec_plain", plain)
	require.True(t, stale, "sealed under an old key")

	b, err := delivery.NewKeyring(keyB)
	require.NoError(t, err)
	_, _, err = b.Open(sealed)
	require.ErrorContains(t, err, delivery.KeyID(keyA), "an unknown key is named by its id")
	tampered := sealed[:len(sealed)-2] + "AA"
	if tampered == sealed {
		tampered = sealed[:len(sealed)-2] + "BB"
	}
	_, _, err = a.Open(tampered)
	require.Error(t, err)
	require.NotContains(t, err.Error(), tampered)

	none, err := delivery.NewKeyring(nil)
	require.NoError(t, err)
	_, err = none.Seal("x")
	require.ErrorIs(t, err, delivery.ErrNoSecretKey)
	_, err = delivery.NewKeyring([]byte("short"))
	require.Error(t, err)
}

// TestWebhookSecretEncryptedAtRest creates a webhook under key A, rotates
// to key B with A kept as old, and checks that deliveries are signed with
// the secret shown at creation while the stored value is ciphertext that
// moves to key B on first use; a plaintext row of before encryption is
// read and rewritten sealed (the upgrade on read).
func TestWebhookSecretEncryptedAtRest(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	keyA, keyB := bytes.Repeat([]byte{0xa}, 32), bytes.Repeat([]byte{0xb}, 32)
	service := func(current []byte, old ...[]byte) *delivery.Service {
		kr, err := delivery.NewKeyring(current, old...)
		require.NoError(t, err)
		return delivery.NewService(b.env.Pool, b.jobs, &reportSource{}, delivery.Options{AllowPrivateWebhooks: true, Secrets: kr})
	}
	stored := func(id uuid.UUID) string {
		var s string
		require.NoError(t, b.env.Pool.QueryRow(ctx, "SELECT secret FROM webhooks WHERE id = $1", id).Scan(&s))
		return s
	}
	rcv := newReceiver(t, nil)
	deliver := func(svc *delivery.Service) (received, error) {
		n := b.reported(t, b.site, "final", false)
		b.sign(t, n)
		before := len(rcv.got())
		_, err := svc.Deliver(ctx, b.deliveries(t, n.ReportID, delivery.ChannelWebhook)[0], 1, delivery.WebhookMaxAttempts)
		if err != nil {
			return received{}, err
		}
		require.Len(t, rcv.got(), before+1)
		return rcv.got()[before], nil
	}

	hook, secret, err := service(keyA).CreateWebhook(ctx, b.site.Principals[identity.RoleOrgAdmin],
		delivery.NewWebhook{URL: rcv.srv.URL + "/teleread"})
	require.NoError(t, err)
	atRest := stored(hook.ID)
	require.True(t, strings.HasPrefix(atRest, "enc:v1:"+delivery.KeyID(keyA)+":"), "sealed under key A")
	require.NotContains(t, atRest, secret)
	require.NotContains(t, atRest, strings.TrimPrefix(secret, "whsec_"))

	// Rotated: B is current, A only decrypts.
	req, err := deliver(service(keyB, keyA))
	require.NoError(t, err)
	require.NoError(t, verifyTeleread(secret, req.header, req.body, time.Now()))
	require.True(t, strings.HasPrefix(stored(hook.ID), "enc:v1:"+delivery.KeyID(keyB)+":"), "rewritten under key B on use")

	// Key A retired: the secret is now readable under B alone.
	req, err = deliver(service(keyB))
	require.NoError(t, err)
	require.NoError(t, verifyTeleread(secret, req.header, req.body, time.Now()))
	// A process holding only key A cannot sign: the attempt fails, naming
	// the key id and not the secret.
	_, err = deliver(service(keyA))
	require.ErrorContains(t, err, delivery.KeyID(keyB))
	require.NotContains(t, err.Error(), secret)

	// A plaintext secret stored before encryption is read, then sealed.
	_, err = b.env.Pool.Exec(ctx, "UPDATE webhooks SET secret = 'whsec_legacy' WHERE id = $1", hook.ID)
	require.NoError(t, err)
	req, err = deliver(service(keyB))
	require.NoError(t, err)
	require.NoError(t, verifyTeleread("whsec_legacy", req.header, req.body, time.Now()))
	require.True(t, strings.HasPrefix(stored(hook.ID), "enc:v1:"+delivery.KeyID(keyB)+":"), "upgraded on read")
	require.NotContains(t, stored(hook.ID), "legacy")
}

func TestWebhookRefusedWithoutSecretKey(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	none, err := delivery.NewKeyring(nil)
	require.NoError(t, err)
	svc := delivery.NewService(b.env.Pool, b.jobs, &reportSource{}, delivery.Options{AllowPrivateWebhooks: true, Secrets: none})
	_, _, err = svc.CreateWebhook(context.Background(), b.site.Principals[identity.RoleOrgAdmin],
		delivery.NewWebhook{URL: "http://127.0.0.1:1/hook"})
	require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
	require.ErrorContains(t, err, "TELEREAD_SECRET_KEY is not set")
	require.Equal(t, 0, b.count(t, "SELECT count(*) FROM webhooks"))
}
