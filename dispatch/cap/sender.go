package cap

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/rs/zerolog"
)

// SenderOptions configures a Sender.
type SenderOptions struct {
	// Endpoints are the 119 receivers' URLs (--cap-url / DOLBOM_CAP_URL).
	Endpoints []string
	// RootCAs, when set, replaces the system roots (tests, private PKI).
	RootCAs *x509.CertPool
	// Timeout bounds one POST to one endpoint; 0 means 5 s.
	Timeout time.Duration
	// BearerToken, when set, is sent as "Authorization: Bearer ...".
	BearerToken string
	// Transport overrides the HTTP transport (tests); RootCAs is then ignored.
	Transport http.RoundTripper
	Logger    zerolog.Logger
}

// Sender posts CAP messages to 119. It is safe for concurrent use.
type Sender struct {
	endpoints []string
	client    *http.Client
	timeout   time.Duration
	token     string
	log       zerolog.Logger
}

// NewSender checks the endpoints and builds the HTTP client.
func NewSender(o SenderOptions) (*Sender, error) {
	if len(o.Endpoints) == 0 {
		return nil, errors.New("cap: no endpoints")
	}
	for _, e := range o.Endpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("cap: endpoint %q is not an http(s) URL", e)
		}
	}
	rt := o.Transport
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12}
		rt = t
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &Sender{
		endpoints: append([]string(nil), o.Endpoints...),
		client:    &http.Client{Transport: rt, CheckRedirect: noRedirects},
		timeout:   timeout,
		token:     o.BearerToken,
		log:       o.Logger.With().Str("component", "cap_sender").Logger(),
	}, nil
}

// A redirect of a POST carrying personal data is not followed blindly.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Endpoints returns the configured endpoints, for callers that keep one
// outbox row per endpoint and call SendTo.
func (s *Sender) Endpoints() []string { return append([]string(nil), s.endpoints...) }

// Send posts body to every endpoint. It reports retry=true when at least one
// endpoint failed in a way worth retrying; endpoints that already accepted
// will answer a repeat with 2xx or 409, which counts as success.
func (s *Sender) Send(ctx context.Context, identifier string, body []byte) (retry bool, err error) {
	var errs []error
	for _, e := range s.endpoints {
		r, err := s.SendTo(ctx, e, identifier, body)
		if err != nil {
			retry = retry || r
			errs = append(errs, err)
		}
	}
	return retry, errors.Join(errs...)
}

// SendTo posts body to one endpoint with the per-attempt timeout.
// 2xx and 409 (the receiver already has this identifier) are success; 5xx,
// 408, 429, timeouts and connection errors are retryable; other 4xx are not.
func (s *Sender) SendTo(ctx context.Context, endpoint, identifier string, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("cap: request to %s: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("Idempotency-Key", identifier)
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return true, fmt.Errorf("cap: post %s to %s: %w", identifier, endpoint, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		s.log.Debug().Str("cap_id", identifier).Str("endpoint", endpoint).Int("status", code).Msg("cap delivered")
		return false, nil
	case code == http.StatusConflict:
		s.log.Debug().Str("cap_id", identifier).Str("endpoint", endpoint).Msg("cap already delivered")
		return false, nil
	case code >= 500, code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return true, &StatusError{Endpoint: endpoint, Code: code, Body: string(snippet)}
	default:
		return false, &StatusError{Endpoint: endpoint, Code: code, Body: string(snippet)}
	}
}

// StatusError is an HTTP answer other than success from a receiver.
type StatusError struct {
	Endpoint string
	Code     int
	Body     string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("cap: %s answered %d: %s", e.Endpoint, e.Code, e.Body)
}
