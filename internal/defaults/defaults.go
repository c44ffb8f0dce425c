// Package defaults fills the unset fields of an options struct: a zero or
// negative number, count or duration means "use the default" throughout the
// project's configs, and that rule is written here once.
package defaults

// Number is what Set fills: counts, sizes, rates and durations.
type Number interface {
	~int | ~int32 | ~int64 | ~float32 | ~float64 // time.Duration is an ~int64
}

// Set sets *v to d when *v is zero or negative (unset).
func Set[T Number](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}
