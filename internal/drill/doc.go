// Package drill holds the clinical-loop drill and the backup/restore drill
// of issue 14 (`make drill`, build tag drill). Both run on a private stack
// (testenv.NewStack: a PostgreSQL and a MinIO of their own) and drive the
// real `teleread` binary as child processes.
//
//   - TestDrill drives -cases cases (1000 by default; `make drill
//     DRILLFLAGS="-cases 200"`) through the whole clinical loop (upload,
//     submit, route, claim, sign, deliver to the inbox and to a real
//     webhook receiver, acknowledge) through a round-robin proxy in front
//     of two `serve --workers=false` processes, with two `worker`
//     processes doing the jobs, while a chaos loop SIGKILLs and restarts
//     them at random moments. At the end it counts, from SQL rows, the
//     bucket and the receiver, the cases lost, stuck or duplicated and the
//     critical results neither acknowledged nor escalated, runs `teleread
//     audit verify`, and prints the counts line.
//   - TestBackupRestore backs a seeded stack up with scripts/backup.sh
//     (pg_dump and `mc mirror`), wipes the database and the bucket,
//     restores with the same script, and checks `teleread audit verify`
//     and the SHA-256 of every file's object against the files table.
//
// docs/operations.md ("Backup and restore", "Clinical-loop drill") says
// what they prove and records a 1000-case run.
package drill
