package config_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/config"
)

func env(over map[string]string) func(string) string {
	base := map[string]string{
		"TELEREAD_DATABASE_URL":  "postgres://u:secret@127.0.0.1:5432/db",
		"TELEREAD_S3_ENDPOINT":   "127.0.0.1:9000",
		"TELEREAD_S3_ACCESS_KEY": "ak",
		"TELEREAD_S3_SECRET_KEY": "sk",
	}
	for k, v := range over {
		base[k] = v
	}
	return func(k string) string { return base[k] }
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(nil))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8080", c.Listen)
	require.Equal(t, "http://127.0.0.1:8080", c.PublicURL)
	require.Equal(t, "teleread", c.S3.Bucket)
	require.Equal(t, 20*time.Second, c.ShutdownTimeout)
	require.False(t, c.SecureCookies, "plain http on loopback")
	c, err = config.Load(env(map[string]string{"TELEREAD_PUBLIC_URL": "https://teleread.example.org/"}))
	require.NoError(t, err)
	require.True(t, c.SecureCookies)
	require.Equal(t, "https://teleread.example.org", c.PublicURL)
}

func TestInvalidValuesNameTheVariable(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		over map[string]string
		want string
	}{
		"MissingDatabase": {map[string]string{"TELEREAD_DATABASE_URL": ""}, "TELEREAD_DATABASE_URL is required"},
		"BadDatabase":     {map[string]string{"TELEREAD_DATABASE_URL": "mysql://x"}, "TELEREAD_DATABASE_URL must be a URL"},
		"SchemeEndpoint":  {map[string]string{"TELEREAD_S3_ENDPOINT": "http://h:1"}, "TELEREAD_S3_ENDPOINT must be host:port without a scheme"},
		"BadBucket":       {map[string]string{"TELEREAD_S3_BUCKET": "Bad_Bucket"}, "TELEREAD_S3_BUCKET must be a valid S3 bucket name"},
		"BadBool":         {map[string]string{"TELEREAD_S3_USE_TLS": "maybe"}, "TELEREAD_S3_USE_TLS must be true or false"},
		"BadDuration":     {map[string]string{"TELEREAD_SHUTDOWN_TIMEOUT": "-1s"}, "TELEREAD_SHUTDOWN_TIMEOUT must be a positive duration"},
		"BadNumber":       {map[string]string{"TELEREAD_WORKER_CONCURRENCY": "0"}, "TELEREAD_WORKER_CONCURRENCY must be a whole number from 1"},
		"BadLevel":        {map[string]string{"TELEREAD_LOG_LEVEL": "loud"}, "TELEREAD_LOG_LEVEL must be debug, info, warn or error"},
		"BadFormat":       {map[string]string{"TELEREAD_LOG_FORMAT": "xml"}, "TELEREAD_LOG_FORMAT must be one of json, text"},
		"BadListen":       {map[string]string{"TELEREAD_LISTEN": "8080"}, "TELEREAD_LISTEN must be host:port"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(env(tc.over))
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "secret", "no secret in the message")
			require.Len(t, strings.Split(err.Error(), "\n"), 1, "one line per bad variable")
		})
	}
}

func TestLogValueRedactsSecrets(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(nil))
	require.NoError(t, err)
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("start", "config", c)
	require.NotContains(t, b.String(), "secret")
	require.NotContains(t, b.String(), `"sk"`)
	require.Contains(t, b.String(), "xxxxx")
}

func TestLimits(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(nil))
	require.NoError(t, err)
	require.Equal(t, config.Limits{AuthPerMinute: 10, AuthBurst: 10, SearchPerMinute: 600, SearchBurst: 60,
		UploadsPerOrg: 32, UploadBytesPerOrg: 4 << 30, BodyMinBytes: 64 << 10, BodyWindow: 30 * time.Second}, c.Limits)

	c, err = config.Load(env(map[string]string{"TELEREAD_SEARCH_RATE_PER_MINUTE": "0", "TELEREAD_UPLOADS_PER_ORG": "0",
		"TELEREAD_AUTH_RATE_BURST": "3", "TELEREAD_UPLOAD_BYTES_PER_ORG": "1048576"}))
	require.NoError(t, err)
	require.Zero(t, c.Limits.SearchPerMinute, "0 turns a limit off")
	require.Zero(t, c.Limits.UploadsPerOrg)
	require.Equal(t, 3, c.Limits.AuthBurst)
	require.EqualValues(t, 1<<20, c.Limits.UploadBytesPerOrg)

	c, err = config.Load(env(map[string]string{"TELEREAD_BODY_WINDOW": "0s", "TELEREAD_BODY_MIN_BYTES": "1024"}))
	require.NoError(t, err)
	require.Zero(t, c.Limits.BodyWindow, "a zero window turns the minimum body rate off")
	require.EqualValues(t, 1024, c.Limits.BodyMinBytes)

	// The removed per-request limit is ignored, not refused.
	_, err = config.Load(env(map[string]string{"TELEREAD_RATE_LIMIT_PER_MINUTE": "0"}))
	require.NoError(t, err)
	for _, bad := range []string{"TELEREAD_SEARCH_RATE_PER_MINUTE", "TELEREAD_UPLOADS_PER_ORG", "TELEREAD_AUTH_RATE_BURST"} {
		_, err := config.Load(env(map[string]string{bad: "-1"}))
		require.ErrorContains(t, err, bad)
	}
}

func TestOHIFDir(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(map[string]string{"HOME": "/home/u"}))
	require.NoError(t, err)
	require.Equal(t, "/home/u/.cache/teleread/tools/ohif-app-"+config.OHIFVersion+"/dist", c.OHIFDir, "the tools cache scripts/ohif.sh fills")
	c, err = config.Load(env(map[string]string{"HOME": "/home/u", "TELEREAD_TOOLS_DIR": "/opt/tools"}))
	require.NoError(t, err)
	require.Equal(t, "/opt/tools/ohif-app-"+config.OHIFVersion+"/dist", c.OHIFDir)
	c, err = config.Load(env(map[string]string{"TELEREAD_OHIF_DIR": "/srv/ohif/dist/"}))
	require.NoError(t, err)
	require.Equal(t, "/srv/ohif/dist", c.OHIFDir)
}

func TestSecretKey(t *testing.T) {
	t.Parallel()
	key := strings.Repeat("k", 32)
	b64 := "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=" // base64 of key
	old := "b2xkb2xkb2xkb2xkb2xkb2xkb2xkb2xkb2xkb2xkb2w"  // unpadded, 32 bytes

	c, err := config.Load(env(nil))
	require.NoError(t, err, "unset is allowed: webhooks cannot then be created")
	require.Nil(t, c.SecretKey)

	c, err = config.Load(env(map[string]string{"TELEREAD_SECRET_KEY": b64, "TELEREAD_SECRET_KEYS_OLD": " " + old + " ,"}))
	require.NoError(t, err)
	require.Equal(t, []byte(key), c.SecretKey)
	require.Len(t, c.SecretKeysOld, 1)
	require.Len(t, c.SecretKeysOld[0], 32)

	for name, bad := range map[string]string{"short": "c2hvcnQ=", "not base64": "not*base64*" + b64} {
		_, err = config.Load(env(map[string]string{"TELEREAD_SECRET_KEY": bad}))
		require.ErrorContains(t, err, "TELEREAD_SECRET_KEY must be 32 bytes written in base64", name)
		require.NotContains(t, err.Error(), bad, "the error never shows the value")
	}
	_, err = config.Load(env(map[string]string{"TELEREAD_SECRET_KEY": b64, "TELEREAD_SECRET_KEYS_OLD": "c2hvcnQ="}))
	require.ErrorContains(t, err, "TELEREAD_SECRET_KEYS_OLD must be 32 bytes")

	c, err = config.Load(env(map[string]string{"TELEREAD_SECRET_KEY": b64}))
	require.NoError(t, err)
	out := slog.GroupValue(c.LogValue().Group()...).String()
	require.NotContains(t, out, b64)
	require.Contains(t, out, "at_rest_key=[redacted]")
}
