package desktop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/orbitagent/orbit/internal/httpclient"
)

// Limits of one device API call.
const (
	// maxBody bounds a response: a policy list with long queries is the
	// largest a real Fleet sends; more is a broken or hostile server.
	maxBody = 4 << 20
	// requestTimeout bounds one call, so a server that accepts and never
	// answers cannot hold the tray at "Connecting..." forever.
	requestTimeout = 30 * time.Second
)

// ErrUnauthorized is Fleet refusing the device token (401): it expired or
// was rotated, and the tray should read the identifier file again.
var ErrUnauthorized = errors.New("fleet refused the device token (401)")

// ErrMissingLicense is Fleet's 402: the server answers, but its license
// does not cover what was asked.
var ErrMissingLicense = errors.New("fleet needs a license for this (402)")

// StatusError is an answer with an unexpected status.
type StatusError struct {
	Endpoint string
	Code     int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("device API %s answered %d %s", e.Endpoint, e.Code, http.StatusText(e.Code))
}

// Summary is what the tray shows of Fleet's answer.
type Summary struct {
	// FailingPolicies is Fleet's failing_policies_count (nil: not told,
	// after a 402).
	FailingPolicies *uint
	// SelfService is Fleet's self_service flag (nil: not sent).
	SelfService *bool
}

// Client calls Fleet's device API (the token goes in the path). Errors
// never carry the URL: it holds the token.
type Client struct {
	http *http.Client
	base *url.URL
}

// NewClient returns a client for the Fleet at base over hc. Redirects are
// followed only within Fleet's origin (httpclient.SameOrigin, as orbit's
// own clients): one elsewhere would carry the token's path there.
func NewClient(hc *http.Client, base *url.URL) *Client {
	return &Client{http: httpclient.WithSameOrigin(hc), base: base}
}

// desktopResponse is the part of Fleet's DesktopSummary the tray uses;
// other fields are ignored, as Fleet adds fields every release.
type desktopResponse struct {
	FailingPolicies *uint `json:"failing_policies_count"`
	SelfService     *bool `json:"self_service"`
}

type policiesResponse struct {
	Policies []struct {
		Response string `json:"response"`
	} `json:"policies"`
}

// Summary asks GET /api/latest/fleet/device/{token}/desktop, and on 404
// (a Fleet older than that endpoint) counts the failing policies of
// GET .../policies, as Fleet Desktop does.
func (c *Client) Summary(ctx context.Context, token string) (Summary, error) {
	var d desktopResponse
	err := c.get(ctx, token, "desktop", &d)
	var se *StatusError
	switch {
	case err == nil:
		var zero uint
		if d.FailingPolicies == nil { // Fleet omits a zero count
			d.FailingPolicies = &zero
		}
		return Summary{FailingPolicies: d.FailingPolicies, SelfService: d.SelfService}, nil
	case errors.As(err, &se) && se.Code == http.StatusNotFound:
		var p policiesResponse
		if err = c.get(ctx, token, "policies", &p); err == nil {
			var failing uint
			for _, pol := range p.Policies {
				// "" is a policy that has not run yet: not failing.
				if pol.Response == "fail" {
					failing++
				}
			}
			return Summary{FailingPolicies: &failing}, nil
		}
	}
	if errors.Is(err, ErrMissingLicense) {
		// Fleet answers, without a count; as Fleet Desktop on a free
		// tier, no self-service.
		no := false
		return Summary{SelfService: &no}, nil
	}
	return Summary{}, err
}

// get fetches .../device/{token}/{endpoint} into v.
func (c *Client) get(ctx context.Context, token, endpoint string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	u := joinPath(c.base, "/api/latest/fleet/device/"+token+"/"+endpoint)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("device API %s: %w", endpoint, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // drop the URL: it holds the token
		}
		return fmt.Errorf("device API %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusPaymentRequired:
		return ErrMissingLicense
	default:
		return &StatusError{Endpoint: endpoint, Code: resp.StatusCode}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("device API %s: read the answer: %w", endpoint, err)
	}
	if len(data) > maxBody {
		return fmt.Errorf("device API %s: the answer is larger than %d bytes", endpoint, maxBody)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("device API %s: the answer is not the JSON Fleet sends: %w", endpoint, err)
	}
	return nil
}
