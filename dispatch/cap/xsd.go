package cap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// ErrNoXMLLint means xmllint (Debian libxml2-utils) is not installed.
var ErrNoXMLLint = errors.New("cap: xmllint not found (install libxml2-utils)")

// ErrValidator means xmllint gave no verdict (the request ended, it could
// not run): nothing is known about the message.
var ErrValidator = errors.New("cap: schema check did not finish")

// ValidateXSD checks body against the XML schema at xsdPath with xmllint.
// Go has no XSD validator; the official schema is the judge, so we ask the
// reference tool instead of re-implementing the schema's rules.
func ValidateXSD(ctx context.Context, xsdPath string, body []byte) error {
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		return ErrNoXMLLint
	}
	cmd := exec.CommandContext(ctx, bin, "--noout", "--nonet", "--schema", xsdPath, "-")
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrValidator, ctx.Err())
		}
		// xmllint's verdicts: 1 not well-formed, 2-4 invalid. Anything else
		// (a schema it could not compile, a signal, no memory) says nothing
		// about the message.
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() >= 1 && ee.ExitCode() <= 4 {
			return fmt.Errorf("%w: schema: %s", ErrInvalid, strings.TrimSpace(stderr.String()))
		}
		return fmt.Errorf("%w: %v: %s", ErrValidator, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
