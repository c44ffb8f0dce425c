package gateway

// The gateway's lifecycle: what New opens is released in one place, last
// in first out, whether New fails half way or Run stops.

// cleanups is what New has opened so far (files, listeners, the store),
// each with the function that releases it. New registers each resource as
// soon as it is open, so that an error return at any later step releases
// everything before it: a listener left open would keep the port taken
// for the next attempt, in tests and in a supervisor's restart loop alike.
type cleanups struct {
	undo []func()
}

// push registers the release of something just opened.
func (c *cleanups) push(undo func()) { c.undo = append(c.undo, undo) }

// unwind releases everything registered, the last opened first (a later
// stage may use an earlier one until it is released: the broker writes to
// the store), and forgets it, so that a second unwind does nothing.
func (c *cleanups) unwind() {
	for i := len(c.undo) - 1; i >= 0; i-- {
		c.undo[i]()
	}
	c.undo = nil
}
