package benchenv

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Services is where the local PostgreSQL and MinIO are, from the
// TELEREAD_* environment that scripts/services.sh prints.
type Services struct {
	DatabaseURL string
	S3Endpoint  string
	S3AccessKey string
	S3SecretKey string
	S3TLS       bool
	S3Region    string

	// Hint tells the user how to get the services, for error messages.
	Hint string
}

// LoadServices reads the services from getenv. makeTarget is the make
// target that runs the benchmark, named in the hint of every error about
// the services.
func LoadServices(getenv func(string) string, makeTarget string) (Services, error) {
	s := Services{
		DatabaseURL: getenv("TELEREAD_DATABASE_URL"),
		S3Endpoint:  getenv("TELEREAD_S3_ENDPOINT"),
		S3AccessKey: getenv("TELEREAD_S3_ACCESS_KEY"),
		S3SecretKey: getenv("TELEREAD_S3_SECRET_KEY"),
		S3Region:    getenv("TELEREAD_S3_REGION"),
		Hint:        "run `make " + makeTarget + "`, or eval \"$(scripts/services.sh env)\" first",
	}
	var missing []string
	for k, v := range map[string]string{
		"TELEREAD_DATABASE_URL": s.DatabaseURL, "TELEREAD_S3_ENDPOINT": s.S3Endpoint,
		"TELEREAD_S3_ACCESS_KEY": s.S3AccessKey, "TELEREAD_S3_SECRET_KEY": s.S3SecretKey,
	} {
		if v == "" {
			missing = append(missing, k)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		return s, fmt.Errorf("%s not set; the benchmark needs the real PostgreSQL and MinIO: %s", strings.Join(missing, ", "), s.Hint)
	}
	if v := getenv("TELEREAD_S3_USE_TLS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("TELEREAD_S3_USE_TLS=%q is not a boolean", v)
		}
		s.S3TLS = b
	}
	if s.S3Region == "" {
		s.S3Region = "us-east-1"
	}
	return s, nil
}

// ConnectAdmin connects to the services' own database, to create and drop
// the benchmark's.
func (s Services) ConnectAdmin(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(cctx, s.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL at %s does not answer (%w): %s", RedactURL(s.DatabaseURL), err, s.Hint)
	}
	return c, nil
}

// MinioClient returns a client for the services' MinIO after checking that
// it answers.
func (s Services) MinioClient(ctx context.Context) (*minio.Client, error) {
	mc, err := minio.New(s.S3Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(s.S3AccessKey, s.S3SecretKey, ""),
		Secure: s.S3TLS,
		Region: s.S3Region,
	})
	if err != nil {
		return nil, fmt.Errorf("MinIO client for %s: %w", s.S3Endpoint, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := mc.ListBuckets(cctx); err != nil {
		return nil, fmt.Errorf("MinIO at %s does not answer (%w): %s", s.S3Endpoint, err, s.Hint)
	}
	return mc, nil
}

// WithDatabase returns the URL raw pointing at database db.
func WithDatabase(raw, db string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("TELEREAD_DATABASE_URL is not a URL: %w", err)
	}
	u.Path = "/" + db
	return u.String(), nil
}

// RedactURL returns raw with its password hidden, for messages.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
