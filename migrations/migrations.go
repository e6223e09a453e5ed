// Package migrations embeds Teleread's SQL migrations, applied in order by
// goose through `teleread migrate`. Files are forward only: never edit one
// after it has landed; add a new numbered file instead.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
