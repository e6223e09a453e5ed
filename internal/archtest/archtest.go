// Package archtest holds tests that keep the code base's layout: which
// packages may import which libraries and each other, and that every query
// on tenant data carries the caller's scope. It has no production code.
package archtest
