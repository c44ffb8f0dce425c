package cap

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/dispatch"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

const xsdPath = "../../../shared/spec/CAP-v1.2.xsd"

// requireXMLLint skips without xmllint, or fails when the suite promised
// every tool (make test sets DOLBOM_REQUIRE_TOOLS=1); it skips without the
// schema.
func requireXMLLint(t *testing.T) {
	t.Helper()
	if err := ValidateXSD(context.Background(), xsdPath, []byte("<x/>")); errors.Is(err, ErrNoXMLLint) {
		if os.Getenv("DOLBOM_REQUIRE_TOOLS") == "1" {
			t.Fatal("xmllint is required (DOLBOM_REQUIRE_TOOLS=1): install libxml2-utils")
		}
		t.Skip("xmllint not installed (libxml2-utils)")
	}
	// The schema is OASIS's, beside the project (../shared), not in it: a
	// clone without it runs the structure checks only, and says so.
	if _, err := os.Stat(xsdPath); err != nil {
		t.Skipf("CAP schema not here (%v): the schema checks need ../shared/spec beside the clone", err)
	}
}

func sampleMessage() Message {
	sent := time.Date(2026, 3, 14, 1, 2, 3, 0, time.UTC) // 10:02:03 in Seoul
	return Message{
		IncidentID: "inc-0001",
		HubID:      "hub-000042",
		Sender:     "gateway@dolbom.example.kr",
		Sent:       sent,
		Cause:      dispatch.CategoryFall,
		Priority:   1,
		Certainty:  CertaintyLikely,
		SummaryKO:  "손목 착용기기가 낙상을 감지했고 30초 확인 창 동안 응답이 없었습니다.",
		SummaryEN:  "The wrist wearable detected a fall; no answer during the 30 s cancel window.",
		TriedKO:    []string{"10:01:30 허브를 통해 대상자에게 괜찮은지 물음 (취소 대기 30초)", "10:02:00 보호자 김민수에게 문자 응급 알림: 보냄"},
		TriedEN:    []string{"10:01:30 asked the resident through the hub (cancel window 30s)", "10:02:00 SMS alert to guardian 김민수: sent"},
		Contact:    "돌봄 관제센터 02-123-4567",
		Resident: Resident{Name: "김순자", Age: 84, Sex: "F", Phone: "+82-2-555-0101",
			MedicalNotes: "고혈압, 당뇨 (hypertension, diabetes)", Medications: []string{"metformin 500mg", "amlodipine 5mg"},
			Allergies: []string{"penicillin"}},
		Access: Access{KeyHolder: "이영희 (딸) +82-10-1234-5678", KeySafe: "현관 왼쪽 키박스 4821", DoorCode: "1357*"},
		Location: Location{Address: "서울특별시 강남구 테헤란로 123", Building: "행복아파트 101동", Floor: "3층", Unit: "302호", Lat: 37.500123, Lon: 127.036456,
			RoomKO: "거실 착용형 낙상 감지기", RoomEN: "living room wearable fall detector"},
		Guardians: []Guardian{
			{Name: "이영희", Relation: "딸 daughter", Phone: "+82-10-1234-5678", Told: "SMS 10:02:00", Answered: "no answer yet"},
			{Name: "박민수", Relation: "사회복지사 social worker", Phone: "+82-10-9876-5432", Told: "call 10:02:10", Answered: "voicemail"},
		},
	}
}

func TestBuildGoldenAndSchema(t *testing.T) {
	requireXMLLint(t)
	alert := sampleMessage()
	upd := alert
	upd.Sequence = 1
	upd.MsgType = MsgUpdate
	upd.Sent = alert.Sent.Add(90 * time.Second)
	upd.Certainty = CertaintyObserved
	upd.References = []Reference{alert.Ref()}
	upd.Guardians = append([]Guardian(nil), alert.Guardians...)
	upd.Guardians[0].Answered = "acknowledged by keypad 10:03:20"
	cancel := alert
	cancel.Sequence = 2
	cancel.MsgType = MsgCancel
	cancel.Sent = alert.Sent.Add(3 * time.Minute)
	cancel.CancelReason = "resident cancelled on the hub: 괜찮아요"
	cancel.References = []Reference{alert.Ref(), upd.Ref()}
	fire := sampleMessage()
	fire.IncidentID, fire.Cause, fire.Status, fire.Certainty = "inc-0002", dispatch.CategoryFire, StatusExercise, CertaintyObserved
	bare := Message{IncidentID: "inc-0003", Sender: "gw@x", Sent: alert.Sent, Cause: dispatch.CategoryInactivity, Status: StatusTest}

	tests := []struct {
		name string
		msg  Message
	}{
		{"alert_fall", alert},
		{"update_fall", upd},
		{"cancel_fall", cancel},
		{"exercise_fire", fire},
		{"test_minimal", bare},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, body, err := Build(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if id != Identifier(tt.msg.Sender, tt.msg.IncidentID, tt.msg.Sequence) {
				t.Errorf("identifier %q is not the stable one", id)
			}
			if err := ValidateXSD(context.Background(), xsdPath, body); err != nil {
				t.Fatalf("%v\n%s", err, body)
			}
			golden := filepath.Join("testdata", tt.name+".xml")
			if *update {
				if err := os.WriteFile(golden, body, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(body, want) {
				t.Errorf("%s differs from golden:\n%s", golden, body)
			}
		})
	}
}

func TestBuildIsStableAcrossRetries(t *testing.T) {
	id1, b1, err := Build(sampleMessage())
	if err != nil {
		t.Fatal(err)
	}
	id2, b2, _ := Build(sampleMessage())
	if id1 != id2 || !bytes.Equal(b1, b2) {
		t.Fatal("rebuilding the same message gave a different identifier or body")
	}
}

func TestSentUsesNumericOffset(t *testing.T) {
	got := FormatSent(time.Date(2026, 1, 1, 15, 0, 0, 0, time.UTC))
	if got != "2026-01-02T00:00:00+09:00" {
		t.Fatalf("FormatSent = %q", got)
	}
}

func TestCancelCarriesNoPersonalData(t *testing.T) {
	m := sampleMessage()
	m.Sequence, m.MsgType = 1, MsgCancel
	m.References = []Reference{sampleMessage().Ref()}
	_, body, err := Build(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{m.Resident.Name, m.Resident.Phone, m.Access.DoorCode, m.Location.Address, "penicillin", m.Guardians[0].Phone} {
		if strings.Contains(string(body), secret) {
			t.Errorf("cancel contains %q", secret)
		}
	}
	p, err := Parse(body)
	if err != nil || p.MsgType != MsgCancel || p.IncidentID != m.IncidentID {
		t.Fatalf("Parse = %+v, %v", p, err)
	}
}

func TestBuildRejects(t *testing.T) {
	ok := sampleMessage()
	tests := []struct {
		name   string
		mutate func(*Message)
	}{
		{"no incident", func(m *Message) { m.IncidentID = "" }},
		{"comma in incident", func(m *Message) { m.IncidentID = "a,b" }},
		{"space in sender", func(m *Message) { m.Sender = "a b" }},
		{"no sent", func(m *Message) { m.Sent = time.Time{} }},
		{"unknown cause", func(m *Message) { m.Cause = "meteor" }},
		{"bad status", func(m *Message) { m.Status = "Draft" }},
		{"update without references", func(m *Message) { m.MsgType = MsgUpdate }},
		{"cancel without references", func(m *Message) { m.MsgType = MsgCancel }},
		{"bad msgType", func(m *Message) { m.MsgType = "Ack" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ok
			tt.mutate(&m)
			if _, _, err := Build(m); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Build err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestSchemaRejectsZuluSent(t *testing.T) {
	requireXMLLint(t)
	_, body, err := Build(sampleMessage())
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(body, []byte("+09:00</sent>"), []byte("Z</sent>"), 1)
	if bytes.Equal(bad, body) {
		t.Fatal("sent element not found")
	}
	if err := ValidateXSD(context.Background(), xsdPath, bad); err == nil {
		t.Fatal("schema accepted a Z offset; the validator is not doing its job")
	}
}

// A check that did not finish (the sender went away, xmllint could not
// run) is no verdict on the message: the mock 119 counted such messages
// invalid when a gateway was killed mid-delivery.
func TestValidateXSDWithoutAVerdictIsNotInvalid(t *testing.T) {
	requireXMLLint(t)
	_, body, err := Build(sampleMessage())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ValidateXSD(ctx, xsdPath, body); !errors.Is(err, ErrValidator) || errors.Is(err, ErrInvalid) {
		t.Errorf("check of a cancelled request: %v, want ErrValidator and not ErrInvalid", err)
	}
	if err := ValidateXSD(context.Background(), "/nonexistent/schema.xsd", body); !errors.Is(err, ErrValidator) || errors.Is(err, ErrInvalid) {
		t.Errorf("check against a schema that does not exist: %v, want ErrValidator", err)
	}
	if err := ValidateXSD(context.Background(), xsdPath, []byte("<alert")); !errors.Is(err, ErrInvalid) {
		t.Errorf("a message that is not well-formed: %v, want ErrInvalid", err)
	}
}

// A message with the resident's address, access codes or medical notes is
// Restricted to the 119 centre it is addressed to; one without (a Cancel,
// a bare test) stays Public. The alarm's room is in each language's info.
func TestScopeAndRoom(t *testing.T) {
	alert := sampleMessage()
	alert.Addressee = "서울종합방재센터"
	_, body, err := Build(alert)
	if err != nil {
		t.Fatal(err)
	}
	s := string(body)
	for _, want := range []string{"<scope>Restricted</scope>", "<restriction>서울종합방재센터 전용", "For 서울종합방재센터 only",
		"<value>거실 착용형 낙상 감지기</value>", "<value>living room wearable fall detector</value>",
		"<areaDesc>서울특별시 강남구 테헤란로 123 행복아파트 101동 3층 302호 (거실 착용형 낙상 감지기)</areaDesc>", "감지 위치: 거실"} {
		if !strings.Contains(s, want) {
			t.Errorf("alert misses %q", want)
		}
	}
	onlyMedical := Message{IncidentID: "inc-9", Sender: "gw@x", Sent: alert.Sent, Cause: dispatch.CategoryHeart,
		Resident: Resident{MedicalNotes: "심방세동"}}
	_, body, _ = Build(onlyMedical)
	if !strings.Contains(string(body), "<scope>Restricted</scope>") || !strings.Contains(string(body), "<restriction>"+DefaultAddressee+" 전용") {
		t.Errorf("medical notes alone must be Restricted to the default addressee:\n%s", body)
	}
	cancel := alert
	cancel.Sequence, cancel.MsgType, cancel.References = 1, MsgCancel, []Reference{alert.Ref()}
	bare := Message{IncidentID: "inc-3", Sender: "gw@x", Sent: alert.Sent, Cause: dispatch.CategoryInactivity, Status: StatusTest}
	for name, m := range map[string]Message{"cancel": cancel, "bare": bare} {
		_, body, err := Build(m)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), "<scope>Public</scope>") || strings.Contains(string(body), "<restriction>") {
			t.Errorf("%s carries no personal data and should be Public:\n%s", name, body)
		}
	}
}
