//go:build !race

package abuse_test

// raceEnabled is false: TestConcurrentUploads stores all 1,000 uploads.
const raceEnabled = false
