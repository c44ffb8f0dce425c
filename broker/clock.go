package broker

import "time"

// received returns the time a message or a connection is stamped with:
// Config.Now's when set, else wall, or the wall clock's when wall is zero.
// Taking the wall time the caller already read keeps the default path to
// one clock read per message (BenchmarkEventPublishToPuback).
func (s *Server) received(wall time.Time) time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	if wall.IsZero() {
		return time.Now()
	}
	return wall
}
