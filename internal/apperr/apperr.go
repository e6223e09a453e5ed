// Package apperr is the small error vocabulary every Teleread package uses.
// Domain packages return *Error values (or wrap them with %w); only the HTTP
// layer knows how a Code becomes a status and a problem+json document.
package apperr

import (
	"errors"
	"fmt"
)

// Code classifies an error for the caller.
type Code string

// The codes. Keep this list short: a new code is a new HTTP mapping.
const (
	Invalid       Code = "invalid"        // the request is malformed or breaks a rule
	Unauthorized  Code = "unauthorized"   // no valid credentials
	Forbidden     Code = "forbidden"      // authenticated, but the role may not do this
	NotFound      Code = "not_found"      // absent, or another tenant's object
	Conflict      Code = "conflict"       // the state does not allow it (wrong status, duplicate)
	TooLarge      Code = "too_large"      // a body or file over the limit
	Unsupported   Code = "unsupported"    // a content type the route does not take
	NotAcceptable Code = "not_acceptable" // no answer in a media type the client accepts
	RateLimited   Code = "rate_limited"   // over the request budget
	Timeout       Code = "timeout"        // the request body arrived too slowly
	Unavailable   Code = "unavailable"    // a dependency is down; retry later
	Internal      Code = "internal"       // a bug or an unexpected failure
	Unprocessable Code = "unprocessable"  // well-formed, but the content cannot be used
)

// Error is an error with a Code and a message that is safe to show to the
// caller. Message must never contain patient data or secrets.
type Error struct {
	Code    Code
	Message string
	// Fields names invalid input fields and why, for Invalid errors.
	Fields map[string]string
	// RetryAfterSeconds is set on RateLimited and Unavailable errors.
	RetryAfterSeconds int
	// Err is an underlying cause, logged but never shown.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error with a formatted message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with code and message that keeps err as its cause.
func Wrap(err error, code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// InvalidFields returns an Invalid error that names each bad field.
func InvalidFields(fields map[string]string) *Error {
	return &Error{Code: Invalid, Message: "the request has invalid fields", Fields: fields}
}

// CodeOf returns the Code of the first *Error in err's chain, or Internal.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// As returns the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Is reports whether err carries code.
func Is(err error, code Code) bool { return CodeOf(err) == code }
