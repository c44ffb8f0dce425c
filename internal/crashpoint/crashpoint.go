//go:build !crashpoints

// Package crashpoint kills the process at a named point of the code, for
// the crash tests: a gateway built with `-tags crashpoints` and run with
// DOLBOM_CRASHPOINT=name dies by SIGKILL the first time it reaches that
// point, exactly where a power cut or an OOM kill could stop it. Without the
// tag, Hit compiles to nothing: production builds carry no test hook.
package crashpoint

// Hit is a named point where a crash test may kill the process.
func Hit(name string) {}
