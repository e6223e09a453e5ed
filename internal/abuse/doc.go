// Package abuse holds the tests of Teleread's limits under hostile load,
// against `teleread serve` (app.Run) on the real services: decompression
// bombs, slow-loris clients, a thousand concurrent uploads. It has no code
// of its own; docs/hardening.md records what the tests measured.
package abuse
