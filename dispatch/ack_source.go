package dispatch

// Which notification, if any, acknowledged an incident. A guardian may
// press 1 after 119 (or a dispatcher on the console) already took the
// incident on: their notification row is marked acknowledged all the
// same, but the incident was acknowledged by 119, and the reports must
// count it as 119's answer, not as a voice call.

// AckActor is how an incident names the recipient who acknowledged it
// through a notification: the role, and the name when there is one
// ("guardian:최영희").
func AckActor(r Recipient) string {
	if r.Name != "" {
		return string(r.Role) + ":" + r.Name
	}
	return string(r.Role)
}

// AcknowledgedThrough reports whether row is the notification whose answer
// acknowledged the incident: it was acknowledged on the row's channel by
// the row's recipient. An answer that came after the incident was taken on
// (by 119, on the console or by someone else) is not.
func (inc *Incident) AcknowledgedThrough(row *OutboxRow) bool {
	return row != nil && row.State == OutboxAcknowledged && !inc.AcknowledgedAt.IsZero() &&
		inc.AcknowledgedVia == row.Channel && inc.AcknowledgedBy == AckActor(row.Recipient)
}
