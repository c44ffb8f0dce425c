package twilio

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/wording"
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

// cause is what the incident is about, in dispatch's one vocabulary; its
// methods give the words of the SMS and the call.
type cause dispatch.Category

type phrase struct{ ko, en string }

func (c cause) urgent() bool { return dispatch.Category(c).Urgent() }

// happened is what happened, as the end of a sentence, and what the
// incident is, as a noun ("the fall", for the "119 has it" SMS): the words
// every channel to people shares (dispatch/wording), so that a new category
// is worded once.
func (c cause) happened(l Lang) string { return c.words("happened.", l) }

func (c cause) what(l Lang) string { return c.words("what.", l) }

// words is c's words under prefix in l, or the words for any other
// category.
func (c cause) words(prefix string, l Lang) string {
	return wording.Or(string(l.norm()), prefix+string(c), wording.Text(string(l.norm()), prefix+"other"))
}

// with119 is how far 119 is, by its answer, as the end of a sentence.
var with119 = map[string]phrase{
	"accepted":   {"119가 신고를 접수해 대응하고 있습니다", "119 has accepted the alert and is responding"},
	"dispatched": {"119가 출동했습니다", "119 has dispatched a unit"},
	"on_scene":   {"119가 현장에 도착했습니다", "119 is on scene"},
}

// with119Text is the SMS telling that 119 has the incident: short, news
// only (the escalation that would have called again is stood down).
func with119Text(n Notice) string {
	stage, ok := with119[n.With119]
	if !ok {
		stage = with119["accepted"]
	}
	if n.Lang.norm() == English {
		return "[Dolbom notice] " + cause(n.Cause).what(English) + " at the home of " + orSome(n.ResidentName, "the resident", "") +
			place(n.Address, " (", ")") + ": " + stage.en + "."
	}
	return "[돌봄 알림] " + orSome(n.ResidentName, "어르신", "님") + " 댁" + place(n.Address, "(", ")") + " " +
		cause(n.Cause).what(Korean) + " 상황: " + stage.ko + "."
}

// SMSText is the text message for n.
func SMSText(n Notice) string {
	name, addr := n.ResidentName, n.Address
	if n.With119 != "" {
		return with119Text(n)
	}
	if n.Recovered {
		if n.Lang.norm() == English {
			return "[Dolbom notice] At the home of " + orSome(name, "the resident", "") + place(addr, " (", ")") + ", " +
				cause(n.Cause).happened(English) + ", and they answered that they are all right. 119 was not called. " +
				"Please check on them when you can."
		}
		return "[돌봄 알림] " + orSome(name, "어르신", "님") + " 댁" + place(addr, "(", ")") + "에서 " +
			strings.TrimSuffix(cause(n.Cause).happened(Korean), "습니다") + "으나 괜찮다고 응답하셨습니다. 119에는 신고하지 않았습니다. " +
			"시간이 되실 때 안부를 확인해 주세요."
	}
	if n.Lang.norm() == English {
		tag := "[Dolbom ALERT]"
		if !cause(n.Cause).urgent() {
			tag = "[Dolbom notice]"
		}
		return tag + " At the home of " + orSome(name, "the resident", "") + place(addr, " (", ")") +
			", " + cause(n.Cause).happened(English) + ". " + replyMenuEN
	}
	tag := "[돌봄 긴급]"
	if !cause(n.Cause).urgent() {
		tag = "[돌봄 알림]"
	}
	return tag + " " + orSome(name, "어르신", "님") + " 댁" + place(addr, "(", ")") + "에서 " +
		cause(n.Cause).happened(Korean) + ". " + replyMenuKO
}

// The reply menu of the SMS: what each answer means to the dispatch core
// (docs/dispatch.md, "Replies").
const (
	replyMenuKO = "답장: 1 가는 중('1 20'은 20분 후 도착), 2 곁에 있음, 3 무사함, 9 119 신고. 다른 답장은 '확인'으로 기록됩니다."
	replyMenuEN = "Reply 1 if you are on your way (\"1 20\": there in 20 min), 2 if you are with them, 3 if they are safe, " +
		"9 to call 119 now. Any other reply records that you got this."
)

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
type voiceLines struct {
	intro, menu, goodbye, askETA, acked, noOpen string
	// said is the thanks for each answer; etaSaid takes the minutes.
	said    map[Answer]string
	etaSaid string
}

func lines(n Notice) voiceLines {
	if n.Lang.norm() == English {
		return voiceLines{
			intro: "This is the Dolbom safety service. At the home of " + orSome(n.ResidentName, "the resident", "") +
				", " + cause(n.Cause).happened(English) + "." + place(n.Address, " The address is ", "."),
			menu: "Press 1 if you are on your way, 2 if you are with them now, 3 if they are safe, 9 to call 119 now. " +
				"Any other key records that you got this message.",
			goodbye: "We did not get your answer, so we will keep calling others and emergency services. Goodbye.",
			askETA:  "How many minutes until you get there? Enter the minutes, then press the pound key.",
			acked:   "Recorded that you got this message.",
			noOpen:  "This alert is no longer open, so your answer changes nothing. If they need help now, call 119 yourself. Goodbye.",
			said: map[Answer]string{
				AnswerOnTheWay: "Thank you. Recorded that you are on your way.",
				AnswerOnScene:  "Thank you. Recorded that you are with them.",
				AnswerSafe:     "Thank you. Recorded that they are safe.",
				AnswerCall119:  "We are alerting 119 now. Please stay with them if you can.",
			},
			etaSaid: "Recorded: arriving in %d minutes. Thank you.",
		}
	}
	return voiceLines{
		intro: "돌봄 안전 서비스입니다. " + orSome(n.ResidentName, "어르신", "님") + " 댁에서 " +
			cause(n.Cause).happened(Korean) + "." + place(n.Address, " 주소는 ", "입니다."),
		menu: "지금 가실 수 있으면 1번, 어르신 곁에 계시면 2번, 어르신이 무사하시면 3번, 119에 바로 신고하려면 9번을 눌러 주세요. " +
			"다른 번호는 확인으로 기록됩니다.",
		goodbye: "응답이 없어 다른 보호자와 119에 계속 연락하겠습니다. 안녕히 계세요.",
		askETA:  "도착까지 몇 분 걸리는지 숫자로 누르고 우물 정자를 눌러 주세요.",
		acked:   "확인으로 기록했습니다.",
		noOpen:  "이 알림은 이미 종료되어 응답이 반영되지 않습니다. 지금 도움이 필요하면 119에 직접 전화해 주세요. 안녕히 계세요.",
		said: map[Answer]string{
			AnswerOnTheWay: "감사합니다. 가시는 중으로 기록했습니다.",
			AnswerOnScene:  "감사합니다. 어르신 곁에 계신 것으로 기록했습니다.",
			AnswerSafe:     "감사합니다. 어르신이 무사하신 것으로 기록했습니다.",
			AnswerCall119:  "119에 바로 알리겠습니다. 가능하면 어르신 곁을 지켜 주세요.",
		},
		etaSaid: "도착 예정 %d분으로 기록했습니다. 감사합니다.",
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
	XMLName     xml.Name `xml:"Gather"`
	NumDigits   int      `xml:"numDigits,attr"`
	FinishOnKey string   `xml:"finishOnKey,attr,omitempty"`
	Action      string   `xml:"action,attr"`
	Method      string   `xml:"method,attr"`
	Timeout     int      `xml:"timeout,attr"`
	Say         say
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

// CallTwiML is the inline TwiML of a call for n: the incident and the
// menu of answers (1 on my way, 2 with them, 3 safe, 9 call 119), the same
// once more, then goodbye. gatherURL receives the digit.
func CallTwiML(n Notice, gatherURL string) string {
	l := lines(n)
	lang := n.Lang.sayLanguage()
	g := gather{NumDigits: 1, Action: gatherURL, Method: "POST", Timeout: 8, Say: say{Language: lang, Text: l.menu}}
	return render(
		say{Language: lang, Text: l.intro}, g,
		say{Language: lang, Text: l.intro}, g,
		say{Language: lang, Text: l.goodbye}, hangup{},
	)
}

// askETAParam marks the Gather action that receives the minutes after "1".
const askETAParam = "ask=eta"

// gatherReply answers a keypress: thanks for what it recorded; after 1 the
// question "how many minutes?" (its answer goes to gatherURL with
// askETAParam); after an unknown key, the menu once more.
func gatherReply(lang Lang, a Answer, etaMinutes int, machine bool, gatherURL string) string {
	l := lines(Notice{Lang: lang})
	sl := lang.sayLanguage()
	menu := gather{NumDigits: 1, Action: gatherURL, Method: "POST", Timeout: 8, Say: say{Language: sl, Text: l.menu}}
	switch {
	case machine:
		return render(menu, say{Language: sl, Text: l.goodbye}, hangup{})
	case etaMinutes > 0:
		return render(say{Language: sl, Text: fmt.Sprintf(l.etaSaid, etaMinutes)}, hangup{})
	case a == AnswerOnTheWay:
		sep := "&"
		if !strings.Contains(gatherURL, "?") {
			sep = "?"
		}
		ask := gather{NumDigits: 3, FinishOnKey: "#", Action: gatherURL + sep + askETAParam, Method: "POST", Timeout: 6,
			Say: say{Language: sl, Text: l.askETA}}
		return render(say{Language: sl, Text: l.said[a]}, ask, hangup{})
	case l.said[a] != "":
		return render(say{Language: sl, Text: l.said[a]}, hangup{})
	}
	return render(say{Language: sl, Text: l.acked}, menu, say{Language: sl, Text: l.goodbye}, hangup{})
}

// noOpenSMS answers a reply that reached no open alert.
const noOpenSMS = "진행 중인 돌봄 알림이 없어 답장이 반영되지 않았습니다. 위급하면 119에 직접 전화해 주세요. / " +
	"No open Dolbom alert: your reply changed nothing. In an emergency, call 119 yourself."

// smsReply confirms what a text reply recorded, in both languages (the
// sender's language is not known from the number alone).
func smsReply(a Answer, etaMinutes int) string {
	var text string
	switch a {
	case AnswerOnTheWay:
		text = "가시는 중으로 기록했습니다. / Recorded: on your way."
		if etaMinutes > 0 {
			text = fmt.Sprintf("가시는 중(도착 예정 %d분)으로 기록했습니다. / Recorded: on your way, there in %d min.", etaMinutes, etaMinutes)
		}
	case AnswerOnScene:
		text = "어르신 곁에 계신 것으로 기록했습니다. / Recorded: you are with them."
	case AnswerSafe:
		text = "어르신이 무사하신 것으로 기록했습니다. / Recorded: they are safe."
	case AnswerCall119:
		text = "119에 알립니다. / 119 is being alerted."
	default:
		text = "확인으로 기록했습니다. " + replyMenuKO + " / Acknowledged. " + replyMenuEN
	}
	return render(message{Text: text})
}

// Answer is what a person's reply means to the dispatch core (the words
// of dispatch.ResponderState, and "call 119 now").
type Answer string

const (
	AnswerAcknowledged Answer = "acknowledged"  // any other reply: "I got the message"
	AnswerOnTheWay     Answer = "on_the_way"    // 1 ("1 20": twenty minutes away)
	AnswerOnScene      Answer = "on_scene"      // 2: with the resident
	AnswerSafe         Answer = "resident_safe" // 3
	AnswerCall119      Answer = "call_119"      // 9
)

// maxETAMinutes bounds an ETA read from a reply: more is a typo and is
// dropped (the answer stands).
const maxETAMinutes = 600

// KeyAnswer is what a keypad digit means: 1 on my way, 2 with them, 3
// safe, 9 call 119; any other key acknowledges.
func KeyAnswer(digits string) Answer {
	switch digits {
	case "1":
		return AnswerOnTheWay
	case "2":
		return AnswerOnScene
	case "3":
		return AnswerSafe
	case "9":
		return AnswerCall119
	}
	return AnswerAcknowledged
}

// ParseReply reads an SMS reply: "1" (on my way; "1 20", "1, 20분" with
// the minutes), "2", "3", "9", and a few words ("도착", "무사", "119",
// "OK"...). Every reply is at least an acknowledgement; known is false for
// one that matched nothing, which the core records as it came.
func ParseReply(body string) (a Answer, etaMinutes int, known bool) {
	s := strings.ToLower(strings.TrimSpace(body))
	fields := strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune(",./:;-~!?。", r) })
	if len(fields) > 0 {
		first := strings.TrimSuffix(fields[0], "번")
		switch first {
		case "1", "2", "3", "9":
			a = KeyAnswer(first)
			if a == AnswerOnTheWay && len(fields) > 1 {
				etaMinutes = minutes(fields[1])
			}
			return a, etaMinutes, true
		case "119":
			return AnswerCall119, 0, true
		}
	}
	compact := strings.Join(fields, "")
	for _, w := range []struct {
		a     Answer
		words []string
	}{
		{AnswerCall119, []string{"119", "신고"}},
		{AnswerOnScene, []string{"도착", "곁에", "옆에", "withthem", "onscene"}},
		{AnswerSafe, []string{"무사", "안전", "safe"}},
		{AnswerOnTheWay, []string{"가는중", "출발", "가고있", "onmyway", "omw"}},
		{AnswerAcknowledged, []string{"ok", "okay", "yes", "네", "예", "확인", "알겠"}},
	} {
		for _, word := range w.words {
			if strings.Contains(compact, word) {
				return w.a, 0, true
			}
		}
	}
	return AnswerAcknowledged, 0, false
}

// minutes reads "20", "20분", "20min": 0 when it is not 1-600 minutes.
func minutes(s string) int {
	for _, suffix := range []string{"minutes", "mins", "min", "m", "분"} {
		s = strings.TrimSuffix(s, suffix)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxETAMinutes {
		return 0
	}
	return n
}
