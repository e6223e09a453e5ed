// Package benchenv is the set-up shared by the benchmark programs under
// scripts/bench: where the local PostgreSQL and MinIO are (Services), and a
// throw-away environment on them (Env) with its own database and bucket, a
// freshly built `teleread serve` running on them, the demo users, and the
// JSON API helpers to talk to it. Everything an Env creates is undone by
// Env.Cleanup in reverse order.
package benchenv
