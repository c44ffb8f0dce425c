package gateway

import (
	"context"
	"encoding/xml"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/twilio/fake"
	"github.com/dolbom/dolbom/store"
)

// capInternal are words of the timeline and the channels that a 119
// call-taker must never read: action names and states (snake_case), Twilio
// SIDs, references, steps, attempts, the broker's errors.
var capInternal = regexp.MustCompile(`\b[a-z]+_[a-z0-9_]+\b|\b(SM|CA)[0-9a-f]{6,}|\(ref |\bstep \d|\battempt \d|broker|waiting .* to cancel|거주자 취소 대기`)

// capTexts are the descriptions and the tried_N parameters of a CAP
// message.
func capTexts(t *testing.T, body string) []string {
	t.Helper()
	var a struct {
		Info []struct {
			Description string `xml:"description"`
			Parameters  []struct {
				Name  string `xml:"valueName"`
				Value string `xml:"value"`
			} `xml:"parameter"`
		} `xml:"info"`
	}
	if err := xml.Unmarshal([]byte(body), &a); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, in := range a.Info {
		out = append(out, in.Description)
		for _, p := range in.Parameters {
			if strings.HasPrefix(p.Name, "tried_") {
				out = append(out, p.Value)
			}
		}
	}
	return out
}

// Issue 13: what 119 reads of what was tried ("조치 내역") is people's
// words: a fall nobody cancels (the check-in, the window ending, the
// guardian's SMS and call sent through the fake Twilio with their SIDs, the
// guardian on the way in 20 minutes, 119's acceptance) reaches the mock 119
// as an Alert and Updates, each valid against the official schema, none
// with an internal word, and the fall's description no longer says it
// waits for the resident to cancel.
func TestChainCAPDescriptionHasNoInternalWords(t *testing.T) {
	onChainBackends(t, func(t *testing.T, cfg func(testing.TB) store.Config) {
		c := startChain(t, cfg(t), time.Second)
		c.g.FakeTwilio.SetBehaviour(guardianPhone, fake.Behaviour{SMSStatus: "delivered", CallOutcome: "human",
			Digits: "1", Then: "20#", After: 100 * time.Millisecond})
		cl := c.connect(t)
		c.publishEvent(t, cl, devices.Event{ID: "fall-1", Kind: devices.EventFall, Sensor: "wearable-1", At: time.Now(), Value: 3.1, HasValue: true})
		waitFor(t, 20*time.Second, "the guardian on the way", func() bool {
			inc, ok := c.incident(t, detectors.CauseFall)
			r, _ := inc.Responder("guardian-1")
			return ok && r.State == dispatch.ResponderOnTheWay && r.ETAMinutes == 20
		})
		inc, _ := c.incident(t, detectors.CauseFall)
		if _, err := c.g.Dispatch.Apply119(context.Background(), dispatch.Answer119{IncidentID: inc.ID, Status: dispatch.Answer119Accepted}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, "an Alert and an Update at the mock 119", func() bool {
			st := c.mock119.Stats()
			return st.ByType["Alert"] == 1 && st.ByType["Update"] >= 1
		})
		if st := c.mock119.Stats(); st.Invalid != 0 {
			t.Errorf("mock 119 %+v: invalid messages", st)
		}
		tried := 0
		for _, a := range c.mock119.Alerts() {
			if a.Checked == "schema" && (a.Valid == nil || !*a.Valid) {
				t.Errorf("%s not valid against the schema", a.Identifier)
			}
			for _, s := range capTexts(t, a.XML) {
				if w := capInternal.FindString(s); w != "" {
					t.Errorf("%s %s: internal word %q in %q", a.MsgType, a.Identifier, w, s)
				}
				if strings.Contains(s, "조치 내역") {
					tried++
				}
			}
		}
		if tried == 0 {
			t.Error("no CAP message told 119 what was tried")
		}
	})
}
