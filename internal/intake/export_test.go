package intake

// SetGroupHold makes every leader of a group commit call hold before it
// takes its group (tests let concurrent requests queue with it).
func SetGroupHold(s *Service, hold func()) { s.groups.hold = hold }
