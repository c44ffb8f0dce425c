package memlimit

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestKeepStacksHelper is the process TestKeepStacks starts: it calls
// KeepStacks (which re-executes this test binary with the same arguments)
// and prints the GODEBUG it ends up running with.
func TestKeepStacksHelper(t *testing.T) {
	if os.Getenv("MEMLIMIT_HELPER") != "1" {
		t.Skip("run by TestKeepStacks")
	}
	KeepStacks()
	fmt.Printf("GODEBUG=%q pid=%d\n", os.Getenv("GODEBUG"), os.Getpid())
}

func TestKeepStacks(t *testing.T) {
	for _, c := range []struct{ given, want string }{
		{"", "gcshrinkstackoff=1"},
		{"madvdontneed=1", "madvdontneed=1,gcshrinkstackoff=1"},
		{"gcshrinkstackoff=0", "gcshrinkstackoff=0"}, // the operator's choice wins
	} {
		t.Run(c.given, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestKeepStacksHelper$", "-test.v")
			env := []string{"MEMLIMIT_HELPER=1"}
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "GODEBUG=") {
					env = append(env, kv)
				}
			}
			if c.given != "" {
				env = append(env, "GODEBUG="+c.given)
			}
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			if want := fmt.Sprintf("GODEBUG=%q pid=%d", c.want, cmd.Process.Pid); !strings.Contains(string(out), want) {
				t.Fatalf("helper printed\n%s\nwant a line %s (same pid: re-executed, not a child)", out, want)
			}
		})
	}
}
