package devices

import (
	"errors"
	"strconv"
)

// ErrorCode is a stable, machine-readable reason a message was refused. Hubs
// receive it on their rejects topic and the gateway counts refusals by it.
type ErrorCode string

const (
	CodeTopic        ErrorCode = "bad_topic"         // not a topic of this protocol
	CodeTooLarge     ErrorCode = "too_large"         // payload over MaxPayload
	CodeSyntax       ErrorCode = "bad_json"          // not JSON, or the wrong JSON types
	CodeVersion      ErrorCode = "bad_version"       // "v" is not 1
	CodeMissing      ErrorCode = "missing_field"     // a required field is absent
	CodeUnknownKind  ErrorCode = "unknown_kind"      // metric, event kind or state not in the protocol
	CodeOutOfRange   ErrorCode = "out_of_range"      // a value outside what is physically possible
	CodeBadID        ErrorCode = "bad_id"            // sensor, event or command id malformed
	CodeFuture       ErrorCode = "ts_in_future"      // timestamp too far ahead of the gateway clock
	CodeTooOld       ErrorCode = "ts_too_old"        // timestamp older than the store-and-forward limit
	CodeTooMany      ErrorCode = "too_many"          // more readings or samples than allowed
	CodeQoS          ErrorCode = "qos_too_low"       // an emergency event sent at QoS 0
	CodeNotPermitted ErrorCode = "not_permitted"     // a topic the hub may not use
	CodeRateLimited  ErrorCode = "rate_limited"      // the hub sends faster than its sensors can
	CodeUnavailable  ErrorCode = "store_unavailable" // the gateway could not make it durable in time
	CodePoison       ErrorCode = "unprocessable"     // the gateway failed handling it; kept for an engineer, do not resend
)

// DecodeError is a refusal of one message, with a code and a human-readable
// explanation naming the offending field.
type DecodeError struct {
	Code ErrorCode
	Msg  string
}

func (e *DecodeError) Error() string { return "devices: " + string(e.Code) + ": " + e.Msg }

// Is makes errors.Is(err, &DecodeError{Code: c}) match on the code alone.
func (e *DecodeError) Is(target error) bool {
	t, ok := target.(*DecodeError)
	return ok && t.Code == e.Code
}

// CodeOf returns the error code of err, or "" when err is not a *DecodeError.
func CodeOf(err error) ErrorCode {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}

func errf(code ErrorCode, msg string) *DecodeError { return &DecodeError{Code: code, Msg: msg} }

func quote(s string) string { return strconv.Quote(truncate(s)) }
