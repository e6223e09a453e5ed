// Package config loads Teleread's typed configuration from the environment
// and validates it once, at start, with errors that name the variable.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration of a Teleread process. It is loaded once
// by Load and passed down; nothing reads the environment after that.
type Config struct {
	// DatabaseURL is the PostgreSQL connection string (TELEREAD_DATABASE_URL).
	DatabaseURL string
	// S3 is the object storage configuration.
	S3 S3
	// Listen is the HTTP listen address (TELEREAD_LISTEN).
	Listen string
	// PublicURL is the URL users reach the server at (TELEREAD_PUBLIC_URL);
	// it defaults to http:// plus Listen.
	PublicURL string
	// LogLevel is the minimum slog level (TELEREAD_LOG_LEVEL).
	LogLevel slog.Level
	// LogFormat is "json" or "text" (TELEREAD_LOG_FORMAT).
	LogFormat string
	// ShutdownTimeout bounds the graceful drain of HTTP requests and jobs
	// (TELEREAD_SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration
	// WorkerConcurrency is the number of River workers of the default queue
	// (TELEREAD_WORKER_CONCURRENCY).
	WorkerConcurrency int
	// MaxRequestBytes caps JSON request bodies (TELEREAD_MAX_REQUEST_BYTES);
	// uploads have their own limit.
	MaxRequestBytes int64
	// MaxUploadBytes caps one uploaded file (TELEREAD_MAX_UPLOAD_BYTES).
	MaxUploadBytes int64
	// Limits are the request rates and upload bounds (docs/operations.md,
	// "Limits"). TELEREAD_RATE_LIMIT_PER_MINUTE, the per-token budget of
	// every request, is gone and ignored.
	Limits Limits
	// SecureCookies sets the Secure attribute on session cookies
	// (TELEREAD_SECURE_COOKIES); it defaults to true unless PublicURL is
	// plain http on loopback.
	SecureCookies bool
	// WebhookAllowPrivate lets site webhooks point at loopback, private and
	// link-local addresses (TELEREAD_WEBHOOK_ALLOW_PRIVATE); off by default,
	// which guards the internal network against server-side request forgery.
	WebhookAllowPrivate bool
	// DICOMwebOrigins are the browser origins allowed to call /dicomweb
	// from another origin (TELEREAD_DICOMWEB_CORS_ORIGINS, comma-separated
	// scheme://host[:port]); none by default.
	DICOMwebOrigins []string
	// OHIFDir is the built OHIF viewer (the dist/ folder of @ohif/app)
	// served under /viewer/ (TELEREAD_OHIF_DIR). It defaults to where
	// scripts/ohif.sh puts the pinned version: the tools cache,
	// ${TELEREAD_TOOLS_DIR:-$HOME/.cache/teleread/tools}/ohif-app-<OHIFVersion>/dist.
	// A folder without index.html is no viewer: /viewer/ says how to fetch it.
	OHIFDir string
	// SecretKey is the 32-byte key that encrypts webhook signing secrets at
	// rest (TELEREAD_SECRET_KEY, base64); nil when unset, and then no
	// webhook can be created. SecretKeysOld are the keys it replaced
	// (TELEREAD_SECRET_KEYS_OLD, comma-separated base64), kept only to read
	// secrets sealed under them until they are rewritten under SecretKey
	// (docs/operations.md, "Secrets").
	SecretKey     []byte
	SecretKeysOld [][]byte
}

// OHIFVersion is the @ohif/app version scripts/ohif.sh pins, which names
// the default OHIFDir in the tools cache.
const OHIFVersion = "3.13.2"

// Limits are the request rates of what needs one and the per-organisation
// upload bounds; a zero one is off. All are per API server.
type Limits struct {
	// AuthPerMinute and AuthBurst are the rate of sign-ins and token
	// creations per client address (TELEREAD_AUTH_RATE_PER_MINUTE,
	// TELEREAD_AUTH_RATE_BURST).
	AuthPerMinute, AuthBurst int
	// SearchPerMinute and SearchBurst are the rate of searches (QIDO-RS,
	// case lists, the worklist) per token or session
	// (TELEREAD_SEARCH_RATE_PER_MINUTE, TELEREAD_SEARCH_RATE_BURST).
	SearchPerMinute, SearchBurst int
	// UploadsPerOrg bounds one organisation's upload requests in flight
	// (TELEREAD_UPLOADS_PER_ORG).
	UploadsPerOrg int
	// UploadBytesPerOrg bounds the declared bytes of one organisation's
	// upload requests in flight (TELEREAD_UPLOAD_BYTES_PER_ORG).
	UploadBytesPerOrg int64
	// BodyMinBytes and BodyWindow are the slowest a request body may
	// arrive: at least BodyMinBytes in every BodyWindow, or the request
	// is answered 408 and its connection closed
	// (TELEREAD_BODY_MIN_BYTES, TELEREAD_BODY_WINDOW; a zero window is off).
	BodyMinBytes int64
	BodyWindow   time.Duration
}

// S3 configures the S3-compatible object storage (MinIO).
type S3 struct {
	// Endpoint is host:port without scheme (TELEREAD_S3_ENDPOINT).
	Endpoint string
	// AccessKey is the access key id (TELEREAD_S3_ACCESS_KEY).
	AccessKey string
	// SecretKey is the secret key (TELEREAD_S3_SECRET_KEY).
	SecretKey string
	// Bucket is the bucket that holds all objects (TELEREAD_S3_BUCKET).
	Bucket string
	// UseTLS selects https (TELEREAD_S3_USE_TLS).
	UseTLS bool
	// Region is the bucket region (TELEREAD_S3_REGION).
	Region string
}

// Error reports one invalid or missing variable.
type Error struct {
	Var    string
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("config: %s %s", e.Var, e.Reason) }

// Load reads the configuration through getenv (os.Getenv in production, a map
// in tests) and validates it. The error names every bad variable, one per
// line, and never contains a secret's value.
func Load(getenv func(string) string) (Config, error) {
	l := loader{getenv: getenv}
	c := Config{
		DatabaseURL: l.databaseURL("TELEREAD_DATABASE_URL"),
		S3: S3{
			Endpoint:  l.endpoint("TELEREAD_S3_ENDPOINT"),
			AccessKey: l.required("TELEREAD_S3_ACCESS_KEY"),
			SecretKey: l.required("TELEREAD_S3_SECRET_KEY"),
			Bucket:    l.bucket("TELEREAD_S3_BUCKET", "teleread"),
			UseTLS:    l.boolean("TELEREAD_S3_USE_TLS", false),
			Region:    l.str("TELEREAD_S3_REGION", "us-east-1"),
		},
		Listen:            l.listen("TELEREAD_LISTEN", "127.0.0.1:8080"),
		LogLevel:          l.level("TELEREAD_LOG_LEVEL", slog.LevelInfo),
		LogFormat:         l.oneOf("TELEREAD_LOG_FORMAT", "json", "json", "text"),
		ShutdownTimeout:   l.duration("TELEREAD_SHUTDOWN_TIMEOUT", 20*time.Second),
		WorkerConcurrency: l.integer("TELEREAD_WORKER_CONCURRENCY", 8, 1, 1000),
		MaxRequestBytes:   int64(l.integer("TELEREAD_MAX_REQUEST_BYTES", 1<<20, 1024, 1<<30)),
		MaxUploadBytes:    int64(l.integer("TELEREAD_MAX_UPLOAD_BYTES", 4<<30, 1024, 1<<40)),
		Limits: Limits{
			AuthPerMinute:     l.integer("TELEREAD_AUTH_RATE_PER_MINUTE", 10, 0, 1_000_000),
			AuthBurst:         l.integer("TELEREAD_AUTH_RATE_BURST", 10, 1, 1_000_000),
			SearchPerMinute:   l.integer("TELEREAD_SEARCH_RATE_PER_MINUTE", 600, 0, 1_000_000),
			SearchBurst:       l.integer("TELEREAD_SEARCH_RATE_BURST", 60, 1, 1_000_000),
			UploadsPerOrg:     l.integer("TELEREAD_UPLOADS_PER_ORG", 32, 0, 100_000),
			UploadBytesPerOrg: int64(l.integer("TELEREAD_UPLOAD_BYTES_PER_ORG", 4<<30, 0, 1<<50)),
			BodyMinBytes:      int64(l.integer("TELEREAD_BODY_MIN_BYTES", 64<<10, 1, 1<<30)),
			BodyWindow:        l.durationOrOff("TELEREAD_BODY_WINDOW", 30*time.Second),
		},
		WebhookAllowPrivate: l.boolean("TELEREAD_WEBHOOK_ALLOW_PRIVATE", false),
		DICOMwebOrigins:     l.origins("TELEREAD_DICOMWEB_CORS_ORIGINS"),
		OHIFDir:             l.ohifDir("TELEREAD_OHIF_DIR"),
		SecretKey:           l.secretKey("TELEREAD_SECRET_KEY", l.getenv("TELEREAD_SECRET_KEY")),
	}
	for _, k := range strings.Split(l.getenv("TELEREAD_SECRET_KEYS_OLD"), ",") {
		if strings.TrimSpace(k) != "" {
			c.SecretKeysOld = append(c.SecretKeysOld, l.secretKey("TELEREAD_SECRET_KEYS_OLD", k))
		}
	}
	c.PublicURL = l.publicURL("TELEREAD_PUBLIC_URL", "http://"+c.Listen)
	c.SecureCookies = l.boolean("TELEREAD_SECURE_COOKIES", !strings.HasPrefix(c.PublicURL, "http://"))
	if len(l.errs) > 0 {
		return Config{}, errors.Join(l.errs...)
	}
	return c, nil
}

// LogValue prints the configuration with its secrets redacted, so it can be
// logged at start.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("database_url", RedactURL(c.DatabaseURL)),
		slog.String("s3_endpoint", c.S3.Endpoint),
		slog.String("s3_bucket", c.S3.Bucket),
		slog.Bool("s3_tls", c.S3.UseTLS),
		slog.String("s3_access_key", "[redacted]"),
		slog.String("listen", c.Listen),
		slog.String("public_url", c.PublicURL),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
		slog.Int("worker_concurrency", c.WorkerConcurrency),
		slog.Int64("max_upload_bytes", c.MaxUploadBytes),
		slog.Int("auth_rate_per_minute", c.Limits.AuthPerMinute),
		slog.Int("auth_rate_burst", c.Limits.AuthBurst),
		slog.Int("search_rate_per_minute", c.Limits.SearchPerMinute),
		slog.Int("search_rate_burst", c.Limits.SearchBurst),
		slog.Int("uploads_per_org", c.Limits.UploadsPerOrg),
		slog.Int64("upload_bytes_per_org", c.Limits.UploadBytesPerOrg),
		slog.Int64("body_min_bytes", c.Limits.BodyMinBytes),
		slog.String("body_window", c.Limits.BodyWindow.String()),
		slog.Bool("webhook_allow_private", c.WebhookAllowPrivate),
		slog.String("dicomweb_cors_origins", strings.Join(c.DICOMwebOrigins, ",")),
		slog.String("ohif_dir", c.OHIFDir),
		slog.String("at_rest_key", keyState(c.SecretKey)),
		slog.Int("at_rest_keys_old", len(c.SecretKeysOld)),
	)
}

// keyState says whether the secret key is set, never what it is.
func keyState(k []byte) string {
	if k == nil {
		return "unset (webhooks cannot be created)"
	}
	return "[redacted]"
}

// RedactURL returns a connection URL with its password replaced.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparseable]"
	}
	return u.Redacted()
}

type loader struct {
	getenv func(string) string
	errs   []error
}

func (l *loader) fail(name, format string, args ...any) {
	l.errs = append(l.errs, &Error{Var: name, Reason: fmt.Sprintf(format, args...)})
}

func (l *loader) str(name, def string) string {
	if v := strings.TrimSpace(l.getenv(name)); v != "" {
		return v
	}
	return def
}

// ohifDir is the variable's folder, or the tools cache's OHIF dist (the
// path scripts/ohif.sh prints; the same cache root as scripts/services.sh).
func (l *loader) ohifDir(name string) string {
	if v := l.str(name, ""); v != "" {
		return filepath.Clean(v)
	}
	tools := l.str("TELEREAD_TOOLS_DIR", "")
	if tools == "" {
		home := l.str("HOME", "")
		if home == "" {
			home = os.TempDir() // no home: the path simply holds no viewer
		}
		tools = filepath.Join(home, ".cache", "teleread", "tools")
	}
	return filepath.Join(tools, "ohif-app-"+OHIFVersion, "dist")
}

// secretKey decodes one 32-byte key written in base64 (standard or
// URL-safe, padded or not); "" is no key. The error never shows the value.
func (l *loader) secretKey(name, v string) []byte {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			if len(b) != 32 {
				l.fail(name, "must be 32 bytes written in base64 (make one with `openssl rand -base64 32`), got %d bytes", len(b))
				return nil
			}
			return b
		}
	}
	l.fail(name, "must be 32 bytes written in base64 (make one with `openssl rand -base64 32`); the value is not base64")
	return nil
}

func (l *loader) required(name string) string {
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		l.fail(name, "is required but not set (run `eval \"$(scripts/services.sh env)\"` for a local set-up)")
	}
	return v
}

func (l *loader) databaseURL(name string) string {
	v := l.required(name)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		l.fail(name, "must be a URL like postgres://user:password@host:5432/dbname")
	}
	return v
}

func (l *loader) endpoint(name string) string {
	v := l.required(name)
	if v == "" {
		return ""
	}
	if strings.Contains(v, "://") {
		l.fail(name, "must be host:port without a scheme (use TELEREAD_S3_USE_TLS for https), got %q", v)
		return v
	}
	if _, _, err := net.SplitHostPort(v); err != nil {
		l.fail(name, "must be host:port, got %q", v)
	}
	return v
}

func (l *loader) bucket(name, def string) string {
	v := l.str(name, def)
	if len(v) < 3 || len(v) > 63 || strings.Trim(v, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
		l.fail(name, "must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens), got %q", v)
	}
	return v
}

func (l *loader) listen(name, def string) string {
	v := l.str(name, def)
	if _, port, err := net.SplitHostPort(v); err != nil {
		l.fail(name, "must be host:port such as 127.0.0.1:8080, got %q", v)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		l.fail(name, "has an invalid port in %q", v)
	}
	return v
}

func (l *loader) publicURL(name, def string) string {
	v := strings.TrimRight(l.str(name, def), "/")
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.fail(name, "must be an http(s) URL, got %q", v)
	}
	return v
}

// origins reads a comma-separated list of web origins: scheme http or
// https, a host, an optional port, and nothing else ("*" is refused: the
// DICOMweb edge allows credentials, which a wildcard must never get).
func (l *loader) origins(name string) []string {
	var out []string
	for _, o := range strings.Split(l.getenv(name), ",") {
		o = strings.TrimRight(strings.TrimSpace(o), "/")
		if o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			l.fail(name, "must list origins like https://viewer.example.org, separated by commas (got %q)", o)
			continue
		}
		out = append(out, u.Scheme+"://"+u.Host)
	}
	return out
}

func (l *loader) boolean(name string, def bool) bool {
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		l.fail(name, "must be true or false, got %q", v)
	}
	return b
}

func (l *loader) integer(name string, def, lo, hi int) int {
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		l.fail(name, "must be a whole number from %d to %d, got %q", lo, hi, v)
	}
	return n
}

func (l *loader) duration(name string, def time.Duration) time.Duration {
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		l.fail(name, "must be a positive duration such as 20s, got %q", v)
	}
	return d
}

// durationOrOff is duration where 0 (or "0s") turns the setting off.
func (l *loader) durationOrOff(name string, def time.Duration) time.Duration {
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if v == "0" {
		d, err = 0, nil
	}
	if err != nil || d < 0 {
		l.fail(name, "must be a duration such as 30s, or 0 for off, got %q", v)
	}
	return d
}

func (l *loader) level(name string, def slog.Level) slog.Level {
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		return def
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(v)); err != nil {
		l.fail(name, "must be debug, info, warn or error, got %q", v)
	}
	return lv
}

func (l *loader) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(l.str(name, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	l.fail(name, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
	return v
}
