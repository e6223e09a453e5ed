// Package scaleout holds the scale-out test of issue 14 (`make
// test-faults`, build tag faults): Teleread as two `teleread serve
// --workers=false` and two `teleread worker` processes on one private
// PostgreSQL and an erasure-coded MinIO on four drives
// (testenv.NewStack), behind a round-robin reverse proxy written in the
// test.
//
// What it proves (docs/operations.md, "Production layout"):
//
//   - Claims stay exclusive across processes: specialists racing for the
//     same cases through both servers get one 200 per case and 409
//     conflicts for the rest, and the case names the winner.
//   - Periodic jobs run once: only River's elected leader schedules them,
//     so the job table holds one run per interval whatever the number of
//     workers, and one leader.
//   - Sign-in throttling holds across processes (it is in PostgreSQL):
//     concurrent wrong passwords through both servers get exactly the five
//     password checks of one e-mail's budget. The per-credential search
//     rate is per server, as documented: a caller gets at most one burst
//     from each server (enforce a shared one at the proxy).
//   - Taking one MinIO drive away during uploads loses nothing: every
//     upload answered 2xx reads back with its SHA-256, with the drive gone
//     and after it is back.
package scaleout
