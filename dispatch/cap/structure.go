package cap

import (
	"encoding/xml"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// CheckStructure checks body against the rules of the CAP 1.2 schema that
// matter to a receiver: the namespace, every required element of alert,
// info, parameter, resource and area, the enumerated values, and the
// date-time form (a numeric offset, never Z). It is our own reading of the
// standard (OASIS CAP 1.2, sections 3.2-3.3), for where the official schema
// is not at hand: it does not check element order or the lengths the schema
// leaves free, so a message it passes may still fail ValidateXSD, never the
// other way round. It returns an error wrapping ErrInvalid that names the
// first problem.
func CheckStructure(body []byte) error {
	var a structAlert
	if err := xml.Unmarshal(body, &a); err != nil {
		return fmt.Errorf("%w: not XML: %v", ErrInvalid, err)
	}
	if a.XMLName.Space != capNamespace || a.XMLName.Local != "alert" {
		return fmt.Errorf("%w: root element {%s}%s, want {%s}alert", ErrInvalid, a.XMLName.Space, a.XMLName.Local, capNamespace)
	}
	var problems []string
	need := func(path string, v *string) {
		if v == nil {
			problems = append(problems, path+" is missing")
		}
	}
	oneOf := func(path string, v *string, allowed ...string) {
		if v == nil {
			problems = append(problems, path+" is missing")
		} else if !slices.Contains(allowed, *v) {
			problems = append(problems, fmt.Sprintf("%s %q is not one of %s", path, *v, strings.Join(allowed, ", ")))
		}
	}
	dateTime := func(path string, v *string) {
		if v != nil && !capDateTime.MatchString(*v) {
			problems = append(problems, fmt.Sprintf("%s %q is not YYYY-MM-DDThh:mm:ss with a numeric offset (+09:00; Z is not allowed)", path, *v))
		}
	}
	need("alert/identifier", a.Identifier)
	need("alert/sender", a.Sender)
	need("alert/sent", a.Sent)
	dateTime("alert/sent", a.Sent)
	oneOf("alert/status", a.Status, "Actual", "Exercise", "System", "Test", "Draft")
	oneOf("alert/msgType", a.MsgType, "Alert", "Update", "Cancel", "Ack", "Error")
	oneOf("alert/scope", a.Scope, "Public", "Restricted", "Private")
	for i, in := range a.Info {
		p := fmt.Sprintf("alert/info[%d]/", i+1)
		if len(in.Category) == 0 {
			problems = append(problems, p+"category is missing")
		}
		for _, c := range in.Category {
			oneOf(p+"category", &c, "Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra", "CBRNE", "Other")
		}
		need(p+"event", in.Event)
		for _, r := range in.ResponseType {
			oneOf(p+"responseType", &r, "Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None")
		}
		oneOf(p+"urgency", in.Urgency, "Immediate", "Expected", "Future", "Past", "Unknown")
		oneOf(p+"severity", in.Severity, "Extreme", "Severe", "Moderate", "Minor", "Unknown")
		oneOf(p+"certainty", in.Certainty, "Observed", "Likely", "Possible", "Unlikely", "Unknown")
		dateTime(p+"effective", in.Effective)
		dateTime(p+"onset", in.Onset)
		dateTime(p+"expires", in.Expires)
		for j, kv := range append(in.EventCode, in.Parameter...) {
			need(fmt.Sprintf("%svalueName (pair %d)", p, j+1), kv.ValueName)
			need(fmt.Sprintf("%svalue (pair %d)", p, j+1), kv.Value)
		}
		for j, r := range in.Resource {
			need(fmt.Sprintf("%sresource[%d]/resourceDesc", p, j+1), r.ResourceDesc)
			need(fmt.Sprintf("%sresource[%d]/mimeType", p, j+1), r.MimeType)
		}
		for j, ar := range in.Area {
			need(fmt.Sprintf("%sarea[%d]/areaDesc", p, j+1), ar.AreaDesc)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: structure: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

const capNamespace = "urn:oasis:names:tc:emergency:cap:1.2"

// capDateTime is the schema's pattern for sent, effective, onset, expires.
var capDateTime = regexp.MustCompile(`^\d\d\d\d-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$`)

// The struct* types read what CheckStructure looks at; a nil pointer is an
// element that is not there (an empty one is there).
type structAlert struct {
	XMLName    xml.Name
	Identifier *string      `xml:"identifier"`
	Sender     *string      `xml:"sender"`
	Sent       *string      `xml:"sent"`
	Status     *string      `xml:"status"`
	MsgType    *string      `xml:"msgType"`
	Scope      *string      `xml:"scope"`
	Info       []structInfo `xml:"info"`
}

type structInfo struct {
	Category     []string     `xml:"category"`
	Event        *string      `xml:"event"`
	ResponseType []string     `xml:"responseType"`
	Urgency      *string      `xml:"urgency"`
	Severity     *string      `xml:"severity"`
	Certainty    *string      `xml:"certainty"`
	EventCode    []structPair `xml:"eventCode"`
	Effective    *string      `xml:"effective"`
	Onset        *string      `xml:"onset"`
	Expires      *string      `xml:"expires"`
	Parameter    []structPair `xml:"parameter"`
	Resource     []structRes  `xml:"resource"`
	Area         []structArea `xml:"area"`
}

type structPair struct {
	ValueName *string `xml:"valueName"`
	Value     *string `xml:"value"`
}

type structRes struct {
	ResourceDesc *string `xml:"resourceDesc"`
	MimeType     *string `xml:"mimeType"`
}

type structArea struct {
	AreaDesc *string `xml:"areaDesc"`
}
