// Command depcheck fails when a package of this module imports another one
// against the direction of the data (hub -> broker -> detectors -> dispatch
// -> channels) described in STYLE.md and the README. It reads the import
// graph from `go list`, so it sees exactly what the compiler sees.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
)

const module = "github.com/dolbom/dolbom/"

// allowed lists, for each top-level folder, the folders its packages may
// import. A package may always import packages under its own folder.
// cmd and scripts wire everything together and may import anything.
var allowed = map[string][]string{
	"devices":   {"internal"},
	"broker":    {"devices", "internal"},
	"detectors": {"devices", "internal"},
	"dispatch":  {"devices", "detectors", "internal"},
	// cluster is a runtime beside the broker, not a stage on the data's
	// way: it decides which gateway owns which home and hands out epochs.
	// The broker and the detectors declare the ports they call and cmd
	// wires cluster into them, so it needs only the leaf domain, and no
	// stage imports it.
	"cluster": {"devices", "internal"},
	// store keeps the data of the packages it serves, in their own types:
	// the console's accounts, sessions, audit log and visits included (it
	// implements the console's ports directly; console never imports store).
	"store": {"devices", "detectors", "dispatch", "console", "cluster", "ota", "internal"},
	// console shows the domain's records in their own types: ota's
	// rollouts and targets on the firmware rollouts page (ota imports
	// only devices, so this adds no way back).
	"console":      {"devices", "detectors", "dispatch", "ota", "internal"},
	"firmware-sim": {"devices"},
	// ota runs firmware rollouts beside the data's way, over the command
	// channel: it declares its ports (Store, Fleet, Commander) and cmd wires
	// the broker and the store into them.
	"ota": {"devices", "internal"},
	// internal holds tools beside the data's way (crash points for the
	// crash tests), importing nothing of the project.
	"internal": {},
}

// inside lists, for packages inside a folder, the project packages they
// must not import: the shard runtime serves the rule rooms (the engine, the
// health monitor) and knows none of them, and the rooms do not reach into
// each other (the engine does not import the health monitor; Go's ban on
// cycles already keeps the other way round once health imports detectors).
var inside = map[string][]string{
	"detectors/internal/shard": {"detectors", "detectors/health", "detectors/fall"},
	"detectors":                {"detectors/health"},
	"detectors/fall":           {"detectors/health"},
	// The console's two doors sit on its shared records and tokens:
	// console/web (the pages, sign-in and the browser's session API) uses
	// console/api's registrar and incident feed, so that a form and a JSON
	// body make the same change; the API knows nothing of pages, and the
	// shared package neither door.
	"console":     {"console/api", "console/web"},
	"console/api": {"console/web"},
}

func main() {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}}`, "./...").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "depcheck: go list:", err)
		os.Exit(2)
	}
	var violations []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		pkg := strings.TrimPrefix(fields[0], module)
		for _, imp := range fields[1:] {
			if slices.Contains(inside[pkg], strings.TrimPrefix(imp, module)) {
				violations = append(violations, fmt.Sprintf("%s imports %s (%s must not import %v)", fields[0], imp, pkg, inside[pkg]))
			}
		}
		from := folder(fields[0])
		rules, restricted := allowed[from]
		if !restricted {
			continue // cmd, scripts: the wiring
		}
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			to := folder(imp)
			if to == from || contains(rules, to) {
				continue
			}
			violations = append(violations, fmt.Sprintf("%s imports %s (%s may import only %v)", fields[0], imp, from, rules))
		}
	}
	if len(violations) > 0 {
		sort.Strings(violations)
		fmt.Fprintln(os.Stderr, "depcheck: imports against the direction of the data:")
		for _, v := range violations {
			fmt.Fprintln(os.Stderr, "  "+v)
		}
		os.Exit(1)
	}
	fmt.Println("depcheck: package imports follow hub -> broker -> detectors -> dispatch -> channels")
}

func folder(importPath string) string {
	rest := strings.TrimPrefix(importPath, module)
	top, _, _ := strings.Cut(rest, "/")
	return top
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
