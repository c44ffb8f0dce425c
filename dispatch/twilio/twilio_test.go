package twilio_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/twilio"
	"github.com/dolbom/dolbom/dispatch/twilio/fake"
)

const (
	accountSID = "AC0123456789abcdef0123456789abcdef"
	authToken  = "f00dfeedf00dfeedf00dfeedf00dfeed"
	ourNumber  = "+8215880119"
	daughter   = "+821012345678"
)

// recorder is the dispatch core's side: it keeps every event.
type recorder struct {
	mu      sync.Mutex
	reports []twilio.Report
	acks    []twilio.Ack
	changed chan struct{}
	// noOpen makes every answer reach no open alert.
	noOpen bool
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 100)} }

func (r *recorder) Status(_ context.Context, rep twilio.Report) error {
	r.mu.Lock()
	r.reports = append(r.reports, rep)
	r.mu.Unlock()
	r.changed <- struct{}{}
	return nil
}

func (r *recorder) Acknowledged(_ context.Context, a twilio.Ack) error {
	r.mu.Lock()
	r.acks = append(r.acks, a)
	noOpen := r.noOpen
	r.mu.Unlock()
	r.changed <- struct{}{}
	if noOpen {
		return fmt.Errorf("incident inc-1 closed: %w", twilio.ErrNoOpenAlert)
	}
	return nil
}

func (r *recorder) snapshot() ([]twilio.Report, []twilio.Ack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]twilio.Report(nil), r.reports...), append([]twilio.Ack(nil), r.acks...)
}

type rig struct {
	client *twilio.Client
	fake   *fake.Server
	events *recorder
	public string
}

// newRig wires the real twilio-go client to the fake over HTTP, and the
// fake's callbacks to our webhooks mounted under /twilio.
func newRig(t *testing.T) *rig {
	t.Helper()
	ev := newRecorder()
	mux := http.NewServeMux()
	gw := httptest.NewServer(mux)
	t.Cleanup(gw.Close)
	public := gw.URL + "/twilio"
	mux.Handle("/twilio/", http.StripPrefix("/twilio", twilio.Webhooks(authToken, public, ev, zerolog.Nop())))

	f := fake.New(fake.Options{AccountSID: accountSID, AuthToken: authToken,
		InboundSMSURL: public + twilio.PathInboundSMS, Logger: zerolog.Nop()})
	api := httptest.NewServer(f)
	t.Cleanup(api.Close)

	c, err := twilio.New(twilio.Config{AccountSID: accountSID, AuthToken: authToken, From: ourNumber,
		APIURL: api.URL, PublicBaseURL: public, CallInterval: time.Millisecond, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go c.Run(ctx)
	t.Cleanup(f.Wait)
	return &rig{client: c, fake: f, events: ev, public: public}
}

func notice(ref string, lang twilio.Lang) twilio.Notice {
	return twilio.Notice{Ref: ref, To: daughter, Lang: lang, Cause: dispatch.CategoryFall, Priority: 1,
		ResidentName: "김순자", Address: "서울 강남구 테헤란로 123 302호"}
}

func TestSMSThroughRealClient(t *testing.T) {
	r := newRig(t)
	sid, retry, err := r.client.SendSMS(context.Background(), notice("out-1", twilio.Korean))
	if err != nil || retry {
		t.Fatalf("SendSMS = %q, %v, %v", sid, retry, err)
	}
	msgs := r.fake.Messages()
	if len(msgs) != 1 || msgs[0].SID != sid || !strings.HasPrefix(sid, "SM") {
		t.Fatalf("fake recorded %+v, sid %q", msgs, sid)
	}
	m := msgs[0]
	for _, want := range []string{"김순자님", "낙상이 감지되었습니다", "서울 강남구", "확인"} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("body %q lacks %q", m.Body, want)
		}
	}
	if m.From != ourNumber || m.To != daughter || m.StatusCallback != r.public+twilio.PathMessageStatus+"?ref=out-1" {
		t.Errorf("message = %+v", m)
	}
	en := notice("out-2", twilio.English)
	en.Cause = dispatch.CategoryInactivity
	if _, _, err := r.client.SendSMS(context.Background(), en); err != nil {
		t.Fatal(err)
	}
	if b := r.fake.Messages()[1].Body; !strings.HasPrefix(b, "[Dolbom notice]") || !strings.Contains(b, "no movement") {
		t.Errorf("english body %q", b)
	}
}

func TestCallTwiMLInRecipientLanguage(t *testing.T) {
	r := newRig(t)
	tests := []struct {
		lang   twilio.Lang
		say    string
		phrase string
	}{
		{twilio.Korean, `<Say language="ko-KR">`, "가실 수 있으면 1번"},
		{twilio.English, `<Say language="en-US">`, "Press 1 if you are on your way"},
	}
	for i, tt := range tests {
		sid, _, err := r.client.Call(context.Background(), notice("call-"+string(tt.lang), tt.lang))
		if err != nil || !strings.HasPrefix(sid, "CA") {
			t.Fatalf("Call = %q, %v", sid, err)
		}
		c := r.fake.Calls()[i]
		if strings.Count(c.Twiml, "<Gather") != 2 || !strings.Contains(c.Twiml, `numDigits="1"`) ||
			!strings.Contains(c.Twiml, tt.say) || !strings.Contains(c.Twiml, tt.phrase) || !strings.Contains(c.Twiml, "<Hangup>") {
			t.Errorf("twiml:\n%s", c.Twiml)
		}
		wantAction := r.public + twilio.PathGather + "?lang=" + string(tt.lang) + "&ref=call-" + string(tt.lang)
		if c.GatherAction != wantAction || c.MachineDetection != "Enable" || !strings.Contains(c.StatusCallback, "ref=call-") {
			t.Errorf("call = %+v, want action %s", c, wantAction)
		}
	}
	if !strings.Contains(r.fake.Calls()[0].Twiml, "김순자님 댁에서") {
		t.Error("korean twiml lacks the resident")
	}
}

func TestNamesAreEscapedInTwiML(t *testing.T) {
	n := notice("x", twilio.Korean)
	n.ResidentName = `<Hangup/>&"`
	tw := twilio.CallTwiML(n, "https://gw/voice/gather?ref=x&lang=ko")
	if strings.Contains(tw, "<Hangup/>&") || !strings.Contains(tw, "ref=x&amp;lang=ko") {
		t.Fatalf("not escaped:\n%s", tw)
	}
}

func waitFor(t *testing.T, ev *recorder, done func([]twilio.Report, []twilio.Ack) bool) ([]twilio.Report, []twilio.Ack) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		reps, acks := ev.snapshot()
		if done(reps, acks) {
			return reps, acks
		}
		select {
		case <-ev.changed:
		case <-deadline:
			t.Fatalf("timed out; reports %+v acks %+v", reps, acks)
		}
	}
}

// The real twilio-go client against the fake, whose scripted person
// answers as a guardian would; the webhooks map each answer.
func TestScriptedOutcomes(t *testing.T) {
	type answer struct {
		a   twilio.Answer
		eta int
	}
	tests := []struct {
		name      string
		behaviour fake.Behaviour
		call      bool
		status    twilio.Status
		answers   []answer
		via       dispatch.Channel
		said      string // in the last TwiML or SMS our webhook answered with
	}{
		{"voicemail is not an answer", fake.Behaviour{CallOutcome: "machine", Digits: "1"}, true, twilio.StatusVoicemail, nil, "", ""},
		{"keypad 1 then the minutes", fake.Behaviour{CallOutcome: "human", Digits: "1", Then: "20#", After: 20 * time.Millisecond}, true, twilio.StatusAnswered,
			[]answer{{twilio.AnswerOnTheWay, 0}, {twilio.AnswerOnTheWay, 20}}, dispatch.ChannelVoice, "도착 예정 20분"},
		{"keypad 1, no minutes", fake.Behaviour{CallOutcome: "human", Digits: "1"}, true, twilio.StatusAnswered,
			[]answer{{twilio.AnswerOnTheWay, 0}}, dispatch.ChannelVoice, "몇 분"},
		{"keypad 2: with them", fake.Behaviour{CallOutcome: "human", Digits: "2"}, true, twilio.StatusAnswered,
			[]answer{{twilio.AnswerOnScene, 0}}, dispatch.ChannelVoice, "곁에 계신 것으로"},
		{"keypad 3: safe", fake.Behaviour{CallOutcome: "human", Digits: "3"}, true, twilio.StatusAnswered,
			[]answer{{twilio.AnswerSafe, 0}}, dispatch.ChannelVoice, "무사하신 것으로"},
		{"keypad 9: call 119", fake.Behaviour{CallOutcome: "human", Digits: "9"}, true, twilio.StatusAnswered,
			[]answer{{twilio.AnswerCall119, 0}}, dispatch.ChannelVoice, "119에 바로"},
		{"another key acknowledges, the menu again", fake.Behaviour{CallOutcome: "human", Digits: "5", Then: "2"}, true, twilio.StatusAnswered,
			[]answer{{twilio.AnswerAcknowledged, 0}, {twilio.AnswerOnScene, 0}}, dispatch.ChannelVoice, "곁에 계신 것으로"},
		{"busy", fake.Behaviour{CallOutcome: "busy"}, true, twilio.StatusBusy, nil, "", ""},
		{"no answer", fake.Behaviour{CallOutcome: "no-answer"}, true, twilio.StatusNoAnswer, nil, "", ""},
		{"sms 확인", fake.Behaviour{SMSStatus: "delivered", Reply: "확인"}, false, twilio.StatusDelivered,
			[]answer{{twilio.AnswerAcknowledged, 0}}, dispatch.ChannelSMS, ""},
		{"sms 1 20", fake.Behaviour{SMSStatus: "delivered", Reply: "1 20"}, false, twilio.StatusDelivered,
			[]answer{{twilio.AnswerOnTheWay, 20}}, dispatch.ChannelSMS, ""},
		{"sms reply not understood is an acknowledgement", fake.Behaviour{SMSStatus: "delivered", Reply: "누구세요?"}, false, twilio.StatusDelivered,
			[]answer{{twilio.AnswerAcknowledged, 0}}, dispatch.ChannelSMS, ""},
		{"sms failed", fake.Behaviour{SMSStatus: "undelivered"}, false, twilio.StatusFailed, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.fake.SetBehaviour(daughter, tt.behaviour)
			send := r.client.SendSMS
			if tt.call {
				send = r.client.Call
			}
			sid, _, err := send(context.Background(), notice("ref-9", twilio.Korean))
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, r.events, func(reps []twilio.Report, _ []twilio.Ack) bool { return len(reps) > 0 })
			r.fake.Wait()
			reps, acks := r.events.snapshot()
			if reps[0].Status != tt.status || reps[0].Ref != "ref-9" || reps[0].SID != sid {
				t.Errorf("report = %+v, want %s for %s", reps[0], tt.status, sid)
			}
			if len(acks) != len(tt.answers) {
				t.Fatalf("answers = %+v, want %+v", acks, tt.answers)
			}
			for i, a := range acks {
				if a.Answer != tt.answers[i].a || a.ETAMinutes != tt.answers[i].eta || a.Via != tt.via || a.By != daughter {
					t.Errorf("answer %d = %+v, want %+v via %s", i, a, tt.answers[i], tt.via)
				}
				if tt.via == dispatch.ChannelVoice && (a.Ref != "ref-9" || a.SID != sid) {
					t.Errorf("voice answer = %+v", a)
				}
			}
			if tt.said != "" {
				replies := r.fake.Calls()[0].Replies
				if len(replies) == 0 || !strings.Contains(replies[len(replies)-1], tt.said) {
					t.Errorf("gather replies %q, want the last to say %q", replies, tt.said)
				}
			}
		})
	}
}

func TestWebhookSignatures(t *testing.T) {
	r := newRig(t)
	form := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}, "To": {daughter}}
	target := r.public + twilio.PathMessageStatus + "?ref=r1"
	post := func(sig, to string) int {
		req, _ := http.NewRequest(http.MethodPost, to, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		name string
		sig  string
		to   string
		want int
	}{
		{"valid", fake.Sign(authToken, target, form), target, http.StatusNoContent},
		{"wrong token", fake.Sign("0000", target, form), target, http.StatusForbidden},
		{"signed for another ref", fake.Sign(authToken, target, form), r.public + twilio.PathMessageStatus + "?ref=r2", http.StatusForbidden},
		{"missing", "", target, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := post(tt.sig, tt.to); got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
		})
	}
	for _, p := range []string{twilio.PathCallStatus, twilio.PathGather, twilio.PathInboundSMS} {
		if got := post("bogus", r.public+p); got != http.StatusForbidden {
			t.Errorf("%s with bad signature: %d", p, got)
		}
	}
	reps, acks := r.events.snapshot()
	if len(reps) != 1 || len(acks) != 0 {
		t.Fatalf("only the valid callback may reach the core: %+v %+v", reps, acks)
	}
}

func TestControlEndpoints(t *testing.T) {
	r := newRig(t)
	sid, _, err := r.client.Call(context.Background(), notice("ref-c", twilio.Korean))
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(r.fake)
	defer api.Close()
	resp, err := http.PostForm(api.URL+"/fake/calls/"+sid+"/digits", url.Values{"digits": {"1"}})
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("digits: %v %v", resp, err)
	}
	_, acks := waitFor(t, r.events, func(_ []twilio.Report, a []twilio.Ack) bool { return len(a) == 1 })
	if acks[0].Ref != "ref-c" {
		t.Fatalf("ack = %+v", acks[0])
	}
}

func TestAPIErrorsRetryOrNot(t *testing.T) {
	f := fake.New(fake.Options{AccountSID: accountSID, AuthToken: authToken, Logger: zerolog.Nop()})
	api := httptest.NewServer(f)
	defer api.Close()
	wrong, _ := twilio.New(twilio.Config{AccountSID: accountSID, AuthToken: "deadbeef", From: ourNumber,
		APIURL: api.URL, PublicBaseURL: "https://gw.test/twilio"})
	if _, retry, err := wrong.SendSMS(context.Background(), notice("r", twilio.Korean)); err == nil || retry {
		t.Fatalf("bad credentials: retry %v err %v", retry, err)
	}
	api.Close()
	c, _ := twilio.New(twilio.Config{AccountSID: accountSID, AuthToken: authToken, From: ourNumber,
		APIURL: api.URL, PublicBaseURL: "https://gw.test/twilio", Timeout: time.Second})
	if _, retry, err := c.SendSMS(context.Background(), notice("r", twilio.Korean)); err == nil || !retry {
		t.Fatalf("server down: retry %v err %v", retry, err)
	}
}

func TestRewriteHostLeavesOtherHosts(t *testing.T) {
	var hosts []string
	rt, err := twilio.RewriteHost("http://127.0.0.1:9999/prefix", roundTripFunc(func(r *http.Request) (*http.Response, error) {
		hosts = append(hosts, r.URL.String())
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json", "https://example.com/x"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		rt.RoundTrip(req)
	}
	want := []string{"http://127.0.0.1:9999/prefix/2010-04-01/Accounts/AC1/Messages.json", "https://example.com/x"}
	if strings.Join(hosts, " ") != strings.Join(want, " ") {
		t.Fatalf("rewritten %q, want %q", hosts, want)
	}
	if _, err := twilio.RewriteHost("not a url", nil); err == nil {
		t.Fatal("accepted a bad URL")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestParseReply(t *testing.T) {
	type want struct {
		a     twilio.Answer
		eta   int
		known bool
	}
	for body, w := range map[string]want{
		"1":         {twilio.AnswerOnTheWay, 0, true},
		"1 20":      {twilio.AnswerOnTheWay, 20, true},
		" 1, 20분 ":  {twilio.AnswerOnTheWay, 20, true},
		"1번 15min":  {twilio.AnswerOnTheWay, 15, true},
		"1 9999":    {twilio.AnswerOnTheWay, 0, true},
		"2":         {twilio.AnswerOnScene, 0, true},
		"3.":        {twilio.AnswerSafe, 0, true},
		"9":         {twilio.AnswerCall119, 0, true},
		"119 불러주세요": {twilio.AnswerCall119, 0, true},
		"지금 도착했어요":  {twilio.AnswerOnScene, 0, true},
		"엄마 무사해요":   {twilio.AnswerSafe, 0, true},
		"가는 중":      {twilio.AnswerOnTheWay, 0, true},
		"OK":        {twilio.AnswerAcknowledged, 0, true},
		"네":         {twilio.AnswerAcknowledged, 0, true},
		"확인":        {twilio.AnswerAcknowledged, 0, true},
		"누구세요?":     {twilio.AnswerAcknowledged, 0, false},
		"":          {twilio.AnswerAcknowledged, 0, false},
		"5":         {twilio.AnswerAcknowledged, 0, false},
	} {
		a, eta, known := twilio.ParseReply(body)
		if a != w.a || eta != w.eta || known != w.known {
			t.Errorf("ParseReply(%q) = %s %d %v, want %+v", body, a, eta, known, w)
		}
	}
}

// The SMS and the spoken menu say what each answer means.
func TestMessagesSayWhatEachKeyMeans(t *testing.T) {
	n := notice("x", twilio.Korean)
	for _, text := range []string{twilio.SMSText(n), twilio.CallTwiML(n, "https://gw/voice/gather?ref=x")} {
		for _, want := range []string{"1", "2", "곁에", "3", "무사", "9", "119"} {
			if !strings.Contains(text, want) {
				t.Errorf("%q lacks %q", text, want)
			}
		}
	}
	n.Lang = twilio.English
	if s := twilio.SMSText(n); !strings.Contains(s, "1 if you are on your way") || !strings.Contains(s, "9 to call 119") {
		t.Errorf("english sms %q", s)
	}
}

// An answer that reaches no open alert (a late "9") is never thanked as if
// it were acted on: the person is told to call 119 themselves.
func TestAnswerToNoOpenAlertSaysCall119Yourself(t *testing.T) {
	r := newRig(t)
	r.events.mu.Lock()
	r.events.noOpen = true
	r.events.mu.Unlock()
	sid, _, err := r.client.Call(context.Background(), notice("ref-late", twilio.Korean))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.fake.PressDigits(context.Background(), sid, "9"); err != nil {
		t.Fatal(err)
	}
	replies := r.fake.Calls()[0].Replies
	if len(replies) != 1 || !strings.Contains(replies[0], "119에 직접 전화해 주세요") || strings.Contains(replies[0], "알리겠습니다") {
		t.Errorf("voice reply %q", replies)
	}
	form := url.Values{"MessageSid": {"SM1"}, "From": {daughter}, "To": {ourNumber}, "Body": {"9"}}
	body, err := r.fake.Post(context.Background(), r.public+twilio.PathInboundSMS, form)
	if err != nil || !strings.Contains(body, "119에 직접 전화해 주세요") || strings.Contains(body, "119에 알립니다") {
		t.Errorf("sms reply %q, %v", body, err)
	}
}
