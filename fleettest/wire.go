package fleettest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
)

// writeJSON encodes v the way Fleet does: two-space indent, trailing newline.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client may be gone; nothing to do about it
}

// fleetJSONError is Fleet's endpoint_utils.JsonError.
type fleetJSONError struct {
	Message string              `json:"message"`
	Code    int                 `json:"code,omitempty"`
	Errors  []map[string]string `json:"errors,omitempty"`
	UUID    string              `json:"uuid,omitempty"`
}

func writeFleetError(w http.ResponseWriter, status int, message, reason string) {
	writeFleetErrorNamed(w, status, message, "base", reason)
}

func writeFleetErrorNamed(w http.ResponseWriter, status int, message, name, reason string) {
	writeJSON(w, status, fleetJSONError{
		Message: message,
		Errors:  []map[string]string{{"name": name, "reason": reason}},
		UUID:    newUUID(),
	})
}

// writeFleetErrorNoUUID is the encoding of an error that does not carry
// Fleet's ErrorWithUUID (fleet.OrbitError, UserMessageError).
func writeFleetErrorNoUUID(w http.ResponseWriter, status int, message, reason string) {
	writeJSON(w, status, fleetJSONError{
		Message: message,
		Errors:  []map[string]string{{"name": "base", "reason": reason}},
	})
}

// authRequired is Fleet's AuthRequiredError (missing or unknown orbit node key, device token).
func authRequired(w http.ResponseWriter) {
	writeFleetError(w, http.StatusUnauthorized, "Authentication required", "Authentication required")
}

// authFailed is Fleet's AuthFailedError (bad enroll secret).
func authFailed(w http.ResponseWriter) {
	writeFleetError(w, http.StatusUnauthorized, "Authentication failed", "Authentication failed")
}

func badRequest(w http.ResponseWriter, reason string) {
	writeFleetError(w, http.StatusBadRequest, "Bad request", reason)
}

func notFound(w http.ResponseWriter, reason string) {
	writeFleetError(w, http.StatusNotFound, "Resource Not Found", reason)
}

// osqueryError is Fleet's OsqueryError encoding.
func osqueryError(w http.ResponseWriter, status int, msg string, nodeInvalid bool) {
	m := map[string]any{"error": msg, "uuid": newUUID()}
	if nodeInvalid {
		m["node_invalid"] = true
		status = http.StatusUnauthorized
	}
	writeJSON(w, status, m)
}

// decode reads the JSON body into dst with Fleet's rules (an empty body is
// {}); strict also rejects unknown fields. It writes the 400 itself and
// reports false on error.
func decode(c *reqCtx, dst any, strict bool) bool {
	body := bytes.TrimSpace(c.body)
	if len(body) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(dst); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			badRequest(c.w, err.Error())
		} else {
			badRequest(c.w, "json decoder error")
		}
		return false
	}
	return true
}

// decodeOsquery is lenient: osqueryd sends fields we do not model.
func decodeOsquery(c *reqCtx, dst any) bool { return decode(c, dst, false) }

// randomKey mirrors Fleet's GenerateRandomText: base64 of n random bytes.
func randomKey(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.StdEncoding.EncodeToString(b)
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
