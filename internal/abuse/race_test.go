//go:build race

package abuse_test

// raceEnabled: the race detector makes the server an order of magnitude
// slower and bigger, so TestConcurrentUploads does not retry shed uploads
// and allows more time and memory (docs/hardening.md).
const raceEnabled = true
