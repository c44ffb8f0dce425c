package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"time"
)

// Error is an answer the client can act on: a status, a message and,
// when one field is to blame, its name (a JSON path such as
// "guardians[0].phone").
type Error struct {
	Status int    `json:"-"` // the HTTP status answered
	Msg    string `json:"error"`
	Field  string `json:"field,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return "console: " + e.Field + ": " + e.Msg
	}
	return "console: " + e.Msg
}

func BadRequest(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client may have gone; nothing to do about it
}

func WriteError(w http.ResponseWriter, e *Error) { WriteJSON(w, e.Status, e) }

// decodeJSON reads one JSON object from the body into dst, which may hold
// current values: PATCH decodes onto the stored record, so fields absent from
// the body keep their values. It refuses other content types, oversized
// bodies, unknown fields and trailing data.
func (a *adminAPI) decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &Error{Status: http.StatusUnsupportedMediaType,
				Msg: fmt.Sprintf("Content-Type %q: this route takes application/json", ct)}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes))
	if err != nil {
		return jsonError(err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return BadRequest("", "the body must hold exactly one JSON object; found more after it")
	}
	return nil
}

// jsonError turns an encoding/json error into a message that names the
// field and says what was expected, in the API's terms rather than Go's.
func jsonError(err error) *Error {
	var (
		tooLarge  *http.MaxBytesError
		syntax    *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		timeParse *time.ParseError
	)
	switch {
	case errors.As(err, &tooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge,
			Msg: fmt.Sprintf("request body larger than %d bytes", tooLarge.Limit)}
	case errors.Is(err, io.EOF):
		return BadRequest("", "the request body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest("", "malformed JSON: the body ends in the middle of a value")
	case errors.As(err, &syntax):
		return BadRequest("", "malformed JSON at byte %d: %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return BadRequest("", "the body must be a JSON object, not %s", typeErr.Value)
		}
		return BadRequest(typeErr.Field, "expected %s, got a JSON %s", describeKind(typeErr.Type), typeErr.Value)
	case errors.As(err, &timeParse):
		return BadRequest("", "a time is not in RFC 3339 form (like 2025-03-01T09:00:00+09:00): %q", timeParse.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field := strings.Trim(name, `"`)
		return BadRequest(field, "unknown field %s: check the spelling against docs/api.md", name)
	}
	return BadRequest("", "invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func describeKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}
