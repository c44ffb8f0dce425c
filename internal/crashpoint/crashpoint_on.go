//go:build crashpoints

package crashpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// armed is the point named by DOLBOM_CRASHPOINT ("name" or "name@N" for the
// Nth time it is reached).
var armed struct {
	name  string
	after int64
	hits  atomic.Int64
}

func init() {
	spec := os.Getenv("DOLBOM_CRASHPOINT")
	if spec == "" {
		return
	}
	name, n, ok := strings.Cut(spec, "@")
	armed.name, armed.after = name, 1
	if ok {
		if v, err := strconv.ParseInt(n, 10, 64); err == nil && v > 0 {
			armed.after = v
		}
	}
}

// Hit kills the process with SIGKILL when name is the armed point, reached
// for the configured time: no deferred function, no flush, no clean close.
func Hit(name string) {
	if armed.name == "" || name != armed.name || armed.hits.Add(1) != armed.after {
		return
	}
	fmt.Fprintf(os.Stderr, "crashpoint %s: killing the process\n", name)
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}
