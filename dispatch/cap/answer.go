package cap

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// AnswerStatus is a step of 119's status round trip (after APCO/TMA ASAP).
type AnswerStatus string

const (
	AnswerAccepted           AnswerStatus = "accepted"
	AnswerRejected           AnswerStatus = "rejected" // Reason says why
	AnswerDispatched         AnswerStatus = "dispatched"
	AnswerOnScene            AnswerStatus = "on_scene"
	AnswerClosed             AnswerStatus = "closed" // Disposition says how
	AnswerCancelAcknowledged AnswerStatus = "cancel_acknowledged"
)

func (s AnswerStatus) valid() bool {
	switch s {
	case AnswerAccepted, AnswerRejected, AnswerDispatched, AnswerOnScene, AnswerClosed, AnswerCancelAcknowledged:
		return true
	}
	return false
}

// Answer is one status report from 119 about a message we sent.
type Answer struct {
	Identifier  string       `json:"identifier,omitempty"`  // CAP identifier of our message
	IncidentID  string       `json:"incident_id,omitempty"` // or our incident id directly
	Status      AnswerStatus `json:"status"`
	Reason      string       `json:"reason,omitempty"`      // for rejected
	Disposition string       `json:"disposition,omitempty"` // for closed
	Unit        string       `json:"unit,omitempty"`        // responding unit, e.g. "강남119안전센터 구급1"
	At          time.Time    `json:"at"`
}

// ErrUnknownIncident is returned by an apply func for an answer about
// nothing we know; the handler answers 404.
var ErrUnknownIncident = errors.New("cap: unknown incident")

// AnswerAuth is how the answer endpoint authenticates 119. Either a shared
// bearer token, or an HMAC-SHA256 key: the caller sends
// X-Dolbom-Timestamp (unix seconds) and
// X-Dolbom-Signature: sha256=hex(HMAC(key, timestamp + "." + body)).
// With both set, either is accepted. With neither, every request is refused.
type AnswerAuth struct {
	BearerToken string
	HMACKey     []byte
	// MaxSkew bounds the timestamp's age for HMAC; 0 means 5 minutes.
	MaxSkew time.Duration
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

const (
	HeaderTimestamp = "X-Dolbom-Timestamp"
	HeaderSignature = "X-Dolbom-Signature"
	maxAnswerBytes  = 64 << 10
)

// SignAnswer returns the signature header value for body at timestamp ts.
func SignAnswer(key []byte, ts time.Time, body []byte) (timestamp, signature string) {
	timestamp = strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return timestamp, "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func (a AnswerAuth) check(r *http.Request, body []byte) bool {
	if a.BearerToken != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if ok && subtle.ConstantTimeCompare([]byte(got), []byte(a.BearerToken)) == 1 {
			return true
		}
	}
	if len(a.HMACKey) > 0 {
		ts := r.Header.Get(HeaderTimestamp)
		secs, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return false
		}
		now := time.Now
		if a.Now != nil {
			now = a.Now
		}
		skew := a.MaxSkew
		if skew <= 0 {
			skew = 5 * time.Minute
		}
		if d := now().Sub(time.Unix(secs, 0)); d > skew || d < -skew {
			return false
		}
		_, want := SignAnswer(a.HMACKey, time.Unix(secs, 0), body)
		return hmac.Equal([]byte(want), []byte(r.Header.Get(HeaderSignature)))
	}
	return false
}

// AnswerHandler serves POST with a JSON Answer (see docs/cap.md). apply
// moves the incident on; it must be idempotent, because 119 may repeat an
// answer it did not see acknowledged. Responses: 204 applied, 400 malformed,
// 401 unauthenticated, 404 unknown incident, 500 apply failed (retry).
func AnswerHandler(auth AnswerAuth, apply func(context.Context, Answer) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAnswerBytes))
		if err != nil {
			http.Error(w, "body too large or unreadable", http.StatusBadRequest)
			return
		}
		if !auth.check(r, body) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dolbom-119"`)
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		var a Answer
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil {
			http.Error(w, "malformed answer: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := a.Validate(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if a.At.IsZero() {
			a.At = time.Now()
		}
		switch err := apply(r.Context(), a); {
		case err == nil:
			w.WriteHeader(http.StatusNoContent)
		case errors.Is(err, ErrUnknownIncident):
			http.Error(w, "unknown incident", http.StatusNotFound)
		default:
			http.Error(w, "could not apply answer", http.StatusInternalServerError)
		}
	})
}

// Validate checks the fields an answer must have.
func (a Answer) Validate() error {
	if a.Identifier == "" && a.IncidentID == "" {
		return errors.New("cap: answer needs identifier or incident_id")
	}
	if !a.Status.valid() {
		return fmt.Errorf("cap: answer status %q unknown", a.Status)
	}
	if a.Status == AnswerRejected && a.Reason == "" {
		return errors.New("cap: rejected answer needs a reason")
	}
	if a.Status == AnswerClosed && a.Disposition == "" {
		return errors.New("cap: closed answer needs a disposition")
	}
	return nil
}

// PostAnswer sends a to the gateway's answer endpoint, signing with auth
// (the mock 119 receiver uses it; so could a real 119 adapter).
func PostAnswer(ctx context.Context, client *http.Client, endpoint string, auth AnswerAuth, a Answer) error {
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("cap: encode answer: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("cap: answer request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+auth.BearerToken)
	}
	if len(auth.HMACKey) > 0 {
		now := time.Now
		if auth.Now != nil {
			now = auth.Now
		}
		ts, sig := SignAnswer(auth.HMACKey, now(), body)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, sig)
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("cap: post answer: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		return &StatusError{Endpoint: endpoint, Code: resp.StatusCode, Body: strings.TrimSpace(string(msg))}
	}
	return nil
}
