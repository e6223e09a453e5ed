package main

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseOptions(t *testing.T) {
	t.Parallel()
	o, err := parseOptions(nil, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 500, o.n)
	require.Equal(t, 4, o.c)
	require.Equal(t, 1000, o.m)
	require.Equal(t, 1_000_000, o.cases)

	for _, args := range [][]string{{"-n", "0"}, {"-c", "0"}, {"-m", "0"}, {"-cases", "-1"}, {"extra"}} {
		_, err := parseOptions(args, io.Discard)
		require.Error(t, err, "%v", args)
	}
}

func TestRunWithoutServices(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), nil, func(string) string { return "" }, io.Discard, io.Discard)
	require.ErrorContains(t, err, "TELEREAD_DATABASE_URL, TELEREAD_S3_ACCESS_KEY, TELEREAD_S3_ENDPOINT, TELEREAD_S3_SECRET_KEY not set")
	require.ErrorContains(t, err, "scripts/services.sh env")
}
