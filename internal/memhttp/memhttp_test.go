package memhttp

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestTransportServesTheHandler(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.RequestURI != "/x?y=1" || r.Host != "peer.invalid" {
			t.Errorf("request %q host %q", r.RequestURI, r.Host)
		}
		w.Header().Set("X-Seen", string(b))
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "done")
	})
	c := &http.Client{Transport: Transport{Handler: h}}
	resp, err := c.Post("http://peer.invalid/x?y=1", "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted || string(b) != "done" || resp.Header.Get("X-Seen") != "body" {
		t.Errorf("got %d %q %q", resp.StatusCode, b, resp.Header.Get("X-Seen"))
	}
}
