// Package faults holds the fault drills of issue 14 (`make test-faults`,
// build tag faults). Each drill starts a private PostgreSQL and MinIO
// (testenv.NewStack), runs the real `teleread serve` against them (in the
// test process, or as a child process it can SIGKILL), breaks something
// outside the server and checks the real state afterwards: HTTP statuses
// and headers, SQL rows and bucket listings.
//
// What they prove (docs/hardening.md, "Fault drills"):
//
//   - MinIO stopped during REST (raw and multipart), STOW-RS and presigned
//     uploads: 503 problem+json with Retry-After, the case unchanged, no
//     file row without its object; the same upload succeeds once MinIO is
//     back.
//   - PostgreSQL restarted while jobs run and requests arrive: /readyz says
//     not ready while it is down and ready after, the server reconnects by
//     itself, every job completes and no webhook delivery id arrives twice.
//   - `teleread serve` SIGKILLed during multipart, STOW-RS and presigned
//     uploads: no case shows a partial file, and the intake sweep removes
//     the orphaned objects and nothing else.
//   - A site's webhook receiver down for ten minutes of simulated time: the
//     report arrives exactly once by delivery id when it is back, and a
//     critical result is escalated meanwhile.
//   - MinIO's disk full: a 503 problem+json that says so, nothing
//     half-recorded, reads still served.
//
// The shared services the other tests use are never stopped.
package faults
