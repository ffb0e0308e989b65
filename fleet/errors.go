package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Sentinel errors callers test with errors.Is. A *StatusError unwraps to the
// one matching its status code.
var (
	// ErrUnauthenticated is HTTP 401 on an authenticated call: the server no
	// longer accepts the orbit node key (host deleted, database restored).
	ErrUnauthenticated = errors.New("fleet rejected the orbit node key (HTTP 401)")
	// ErrEnrollSecretRejected is HTTP 401 on enroll.
	ErrEnrollSecretRejected = errors.New("fleet rejected the enroll secret (HTTP 401): check --enroll-secret (or the --enroll-secret-path file) against the secrets in Fleet")
	// ErrEndUserAuthRequired is Fleet's 401 END_USER_AUTH_REQUIRED on
	// enroll: the team requires the end user to sign in first, which orbit
	// does not implement (it announces no end_user_auth capability).
	ErrEndUserAuthRequired = errors.New("fleet requires end-user authentication before this host can enroll (END_USER_AUTH_REQUIRED): orbit does not implement end-user sign-in; a Fleet admin can allow enrollment without it (mdm.allow_orbit_end_user_auth_bypass) or turn off end-user authentication for this host's team")
	// ErrNotFound is HTTP 404: the server does not have this endpoint (an
	// older Fleet); callers degrade instead of failing.
	ErrNotFound = errors.New("endpoint not found on the Fleet server (HTTP 404): the server may be older than this agent")
	// ErrMissingLicense is HTTP 402: the feature needs Fleet Premium.
	ErrMissingLicense = errors.New("fleet requires a Premium license for this call (HTTP 402)")
	// ErrBodyTooLarge means a response exceeded the client's size limit.
	ErrBodyTooLarge = errors.New("fleet response body is larger than the allowed limit")
	// ErrBadResponse means a 2xx answer that is not the expected JSON.
	ErrBadResponse = errors.New("fleet answered with an invalid response (is --fleet-url pointing at Fleet?)")
)

// endUserAuthRequired is the message and reason of Fleet's
// fleet.NewOrbitIDPAuthRequiredError (server/fleet/errors.go).
const endUserAuthRequired = "END_USER_AUTH_REQUIRED"

// StatusError is a non-2xx answer from Fleet.
type StatusError struct {
	Method     string
	Path       string
	StatusCode int
	// Message is the server's error text (Fleet's "errors[0].reason" or
	// "message"), shortened and stripped of control characters.
	Message string

	sentinel error
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.StatusCode)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.sentinel != nil {
		msg += " (" + e.sentinel.Error() + ")"
	}
	return msg
}

// Unwrap lets errors.Is match ErrUnauthenticated, ErrNotFound, ...
func (e *StatusError) Unwrap() error { return e.sentinel }

// IsNetworkError reports whether err is a transport failure or a 5xx: the
// kind of error a later retry may clear, as opposed to a rejection.
func IsNetworkError(err error) bool {
	if err == nil {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode >= 500
	}
	return !errors.Is(err, ErrBodyTooLarge) && !errors.Is(err, ErrBadResponse)
}

// serverErrorText extracts Fleet's error message from an error body:
// {"message": "...", "errors": [{"name": "...", "reason": "..."}]} or
// {"error": "..."}. Anything else is reduced to a short printable prefix.
func serverErrorText(body []byte) string {
	var fe struct {
		Message string `json:"message"`
		Error   string `json:"error"`
		Errors  []struct {
			Reason string `json:"reason"`
		} `json:"errors"`
	}
	text := ""
	if json.Unmarshal(body, &fe) == nil {
		switch {
		case len(fe.Errors) > 0 && fe.Errors[0].Reason != "":
			text = fe.Errors[0].Reason
		case fe.Message != "":
			text = fe.Message
		case fe.Error != "":
			text = fe.Error
		}
	} else {
		text = string(body)
	}
	return shorten(text, 200)
}

// shorten keeps at most n runes of s with control characters removed, so a
// hostile or broken server cannot inject log lines through error text.
func shorten(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "..."
	}
	return s
}
