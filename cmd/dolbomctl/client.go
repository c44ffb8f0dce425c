package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// client speaks the gateway's admin API (docs/api.md).
type client struct {
	base  *url.URL // scheme and host of the gateway
	token string
	http  *http.Client
}

func newClient(server, token string, timeout time.Duration) (*client, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErrorf("--server %q: want a URL like http://127.0.0.1:8080", server)
	}
	return &client{base: u, token: token, http: &http.Client{Timeout: timeout}}, nil
}

// apiError is the gateway's refusal, as its JSON error body says it.
type apiError struct {
	Status  int
	Message string `json:"error"`
	Field   string `json:"field"`
}

func (e *apiError) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	return fmt.Sprintf("%s (HTTP %d)", msg, e.Status)
}

// do sends a request to /api/v1/<path> and returns the body of a 2xx
// answer, or an *apiError.
func (c *client) do(ctx context.Context, method, path string, query url.Values, contentType string, body io.Reader) ([]byte, error) {
	u := c.base.JoinPath("/api/v1", path)
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the gateway at %s (is dolbomd running? see --server / DOLBOM_SERVER): %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the gateway's answer: %w", err)
	}
	if resp.StatusCode/100 == 2 {
		return data, nil
	}
	ae := &apiError{Status: resp.StatusCode}
	if json.Unmarshal(data, ae) != nil || ae.Message == "" {
		ae.Message = strings.TrimSpace(http.StatusText(resp.StatusCode) + ": " + truncate(string(data), 200))
	}
	return nil, ae
}

// doJSON sends v (when not nil) as a JSON body.
func (c *client) doJSON(ctx context.Context, method, path string, query url.Values, v any) ([]byte, error) {
	if v == nil {
		return c.do(ctx, method, path, query, "", nil)
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return c.do(ctx, method, path, query, "application/json", bytes.NewReader(body))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
