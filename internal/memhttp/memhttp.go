// Package memhttp carries HTTP requests to a handler in the same process,
// without sockets: the built-in fake Twilio and the simulator's mock 119
// are reached through it, so that the whole gateway runs inside a
// testing/synctest bubble (a goroutine waiting on a real socket is never
// "durably blocked", and the bubble's clock would stop).
package memhttp

import (
	"bytes"
	"io"
	"net/http"
)

// Transport is an http.RoundTripper that serves each request with Handler
// and returns what it wrote. Responses are buffered whole: streams (SSE)
// end when the handler returns.
type Transport struct {
	Handler http.Handler
}

// RoundTrip serves r.
func (t Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	in := r.Clone(r.Context())
	in.RequestURI = r.URL.RequestURI()
	if in.Body == nil {
		in.Body = http.NoBody
	}
	if in.Host == "" {
		in.Host = r.URL.Host
	}
	if in.RemoteAddr == "" {
		in.RemoteAddr = "127.0.0.1:1" // in-process: the loopback peer
	}
	w := &recorder{header: http.Header{}}
	t.Handler.ServeHTTP(w, in)
	if r.Body != nil {
		r.Body.Close()
	}
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	return &http.Response{
		Status: http.StatusText(status), StatusCode: status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(bytes.NewReader(w.body.Bytes())), ContentLength: int64(w.body.Len()), Request: r,
	}, nil
}

// recorder is the handler's http.ResponseWriter.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// Flush is accepted (and does nothing: the body is returned whole).
func (w *recorder) Flush() {}
