// Package svclog gives the commands' logs a service name, so that the
// lines of dolbomd and of the mock 119, which `make run` prints to one
// terminal, are told apart: a `service` field in JSON, a "[dolbom-119]"
// column on a console.
package svclog

import (
	"fmt"
	"io"

	"github.com/rs/zerolog"
)

// Field is the key of the service name.
const Field = "service"

// Console is a console writer that prints the service after the level.
func Console(out io.Writer) zerolog.ConsoleWriter {
	return zerolog.ConsoleWriter{Out: out, TimeFormat: "15:04:05.000",
		PartsOrder:    []string{zerolog.TimestampFieldName, zerolog.LevelFieldName, Field, zerolog.MessageFieldName},
		FieldsExclude: []string{Field},
		FormatPartValueByName: func(v any, name string) string {
			if name == Field {
				return fmt.Sprintf("[%v]", v)
			}
			return fmt.Sprint(v)
		},
	}
}

// With names the service on every line of l.
func With(l zerolog.Logger, service string) zerolog.Logger {
	return l.With().Str(Field, service).Logger()
}
