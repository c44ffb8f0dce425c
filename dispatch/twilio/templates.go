package twilio

import (
	"encoding/xml"
	"strings"
)

// Lang is the recipient's language.
type Lang string

const (
	Korean  Lang = "ko" // the default
	English Lang = "en"
)

func (l Lang) norm() Lang {
	if l == English {
		return English
	}
	return Korean
}

// sayLanguage is the TwiML <Say language> for l.
func (l Lang) sayLanguage() string {
	if l.norm() == English {
		return "en-US"
	}
	return "ko-KR"
}

// Cause is what the incident is about (the same words as cap.Cause).
type Cause string

const (
	CauseFall       Cause = "fall"
	CauseFire       Cause = "fire"
	CauseSOS        Cause = "sos"
	CauseHeart      Cause = "heart"
	CauseBreathing  Cause = "breathing"
	CauseInactivity Cause = "inactivity"
	CauseGas        Cause = "gas"
	CauseDevice     Cause = "device"
)

type phrase struct{ ko, en string }

// what happened, as the end of a sentence.
var happened = map[Cause]phrase{
	CauseFall:       {"낙상이 감지되었습니다", "a fall was detected"},
	CauseFire:       {"화재가 감지되었습니다", "a fire was detected"},
	CauseSOS:        {"응급 호출 버튼이 눌렸습니다", "the emergency button was pressed"},
	CauseHeart:      {"심장 이상이 감지되었습니다", "a heart emergency was detected"},
	CauseBreathing:  {"호흡 이상이 감지되었습니다", "abnormal breathing was detected"},
	CauseInactivity: {"오랫동안 움직임이 없습니다", "there has been no movement for a long time"},
	CauseGas:        {"가스 또는 일산화탄소가 감지되었습니다", "gas or carbon monoxide was detected"},
	CauseDevice:     {"안전 장비에 이상이 있습니다", "a safety device needs attention"},
}

func (c Cause) urgent() bool { return c != CauseInactivity && c != CauseDevice }

func (c Cause) happened(l Lang) string {
	p, ok := happened[c]
	if !ok {
		p = phrase{"긴급 상황이 발생했습니다", "an emergency was reported"}
	}
	if l.norm() == English {
		return p.en
	}
	return p.ko
}

// SMSText is the text message for n.
func SMSText(n Notice) string {
	name, addr := n.ResidentName, n.Address
	if n.Recovered {
		if n.Lang.norm() == English {
			return "[Dolbom notice] At the home of " + orSome(name, "the resident", "") + place(addr, " (", ")") + ", " +
				n.Cause.happened(English) + ", and they answered that they are all right. 119 was not called. " +
				"Please check on them when you can."
		}
		return "[돌봄 알림] " + orSome(name, "어르신", "님") + " 댁" + place(addr, "(", ")") + "에서 " +
			strings.TrimSuffix(n.Cause.happened(Korean), "습니다") + "으나 괜찮다고 응답하셨습니다. 119에는 신고하지 않았습니다. " +
			"시간이 되실 때 안부를 확인해 주세요."
	}
	if n.Lang.norm() == English {
		tag := "[Dolbom ALERT]"
		if !n.Cause.urgent() {
			tag = "[Dolbom notice]"
		}
		return tag + " At the home of " + orSome(name, "the resident", "") + place(addr, " (", ")") +
			", " + n.Cause.happened(English) + ". Reply 1 or OK to acknowledge."
	}
	tag := "[돌봄 긴급]"
	if !n.Cause.urgent() {
		tag = "[돌봄 알림]"
	}
	return tag + " " + orSome(name, "어르신", "님") + " 댁" + place(addr, "(", ")") + "에서 " +
		n.Cause.happened(Korean) + ". 확인하셨으면 1 또는 '확인'으로 답장해 주세요."
}

func orSome(v, fallback, suffix string) string {
	if v == "" {
		return fallback
	}
	return v + suffix
}

func place(addr, open, close string) string {
	if addr == "" {
		return ""
	}
	return open + addr + close
}

// voice lines per language.
type voiceLines struct{ intro, prompt, goodbye, thanks, again string }

func lines(n Notice) voiceLines {
	if n.Lang.norm() == English {
		return voiceLines{
			intro: "This is the Dolbom safety service. At the home of " + orSome(n.ResidentName, "the resident", "") +
				", " + n.Cause.happened(English) + "." + place(n.Address, " The address is ", "."),
			prompt:  "If you can take care of this, press 1.",
			goodbye: "We did not get your answer, so we will keep calling others and emergency services. Goodbye.",
			thanks:  "Thank you. Your acknowledgement is recorded. Please check on them now.",
			again:   "Please press 1 to acknowledge.",
		}
	}
	return voiceLines{
		intro: "돌봄 안전 서비스입니다. " + orSome(n.ResidentName, "어르신", "님") + " 댁에서 " +
			n.Cause.happened(Korean) + "." + place(n.Address, " 주소는 ", "입니다."),
		prompt:  "확인하셨으면 1번을 눌러 주세요.",
		goodbye: "응답이 없어 다른 보호자와 119에 계속 연락하겠습니다. 안녕히 계세요.",
		thanks:  "확인해 주셔서 감사합니다. 지금 바로 살펴봐 주세요.",
		again:   "확인하시려면 1번을 눌러 주세요.",
	}
}

// TwiML elements, written with encoding/xml so names and addresses are
// escaped and the output is deterministic.
type twimlResponse struct {
	XMLName xml.Name `xml:"Response"`
	Verbs   []any
}

type say struct {
	XMLName  xml.Name `xml:"Say"`
	Language string   `xml:"language,attr"`
	Text     string   `xml:",chardata"`
}

type gather struct {
	XMLName   xml.Name `xml:"Gather"`
	NumDigits int      `xml:"numDigits,attr"`
	Action    string   `xml:"action,attr"`
	Method    string   `xml:"method,attr"`
	Timeout   int      `xml:"timeout,attr"`
	Say       say
}

type hangup struct {
	XMLName xml.Name `xml:"Hangup"`
}

type message struct {
	XMLName xml.Name `xml:"Message"`
	Text    string   `xml:",chardata"`
}

func render(verbs ...any) string {
	out, err := xml.Marshal(twimlResponse{Verbs: verbs})
	if err != nil {
		// Only strings and ints go in; a failure here is a programming error.
		panic("twilio: twiml: " + err.Error())
	}
	return xml.Header + string(out)
}

// CallTwiML is the inline TwiML of a call for n: the incident, a prompt to
// press 1, the same once more, then goodbye. gatherURL receives the digit.
func CallTwiML(n Notice, gatherURL string) string {
	l := lines(n)
	lang := n.Lang.sayLanguage()
	g := gather{NumDigits: 1, Action: gatherURL, Method: "POST", Timeout: 8, Say: say{Language: lang, Text: l.prompt}}
	return render(
		say{Language: lang, Text: l.intro}, g,
		say{Language: lang, Text: l.intro}, g,
		say{Language: lang, Text: l.goodbye}, hangup{},
	)
}

func gatherReply(lang Lang, acked bool, gatherURL string) string {
	l := lines(Notice{Lang: lang})
	sl := lang.sayLanguage()
	if acked {
		return render(say{Language: sl, Text: l.thanks}, hangup{})
	}
	return render(
		gather{NumDigits: 1, Action: gatherURL, Method: "POST", Timeout: 8, Say: say{Language: sl, Text: l.again}},
		say{Language: sl, Text: l.goodbye}, hangup{},
	)
}

func smsReply(acked bool) string {
	if !acked {
		return render()
	}
	return render(message{Text: "확인되었습니다. 감사합니다. / Acknowledged, thank you."})
}

// IsAckReply tells whether an SMS reply acknowledges: "1", "OK", "네", "확인"...
func IsAckReply(body string) bool {
	s := strings.ToLower(strings.TrimSpace(body))
	s = strings.Trim(s, ".!~ 。")
	switch s {
	case "1", "ok", "okay", "yes", "y", "네", "예", "확인", "확인함", "확인했습니다", "알겠습니다":
		return true
	}
	return false
}
