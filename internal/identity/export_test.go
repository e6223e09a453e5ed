package identity

import "time"

// SetClock makes s read the time from now, so that tests can move past
// token and session expiry.
func SetClock(s *Service, now func() time.Time) { s.now = now }
