package cases

// AllowedFrom is the transition table, for the tests.
func AllowedFrom(to Status) []Status { return allowedFrom[to] }
