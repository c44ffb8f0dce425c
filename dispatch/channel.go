package dispatch

// Channel names how a notification travels: the key of its Notifier in
// Config.Notifiers, a policy target's "via", an outbox row's and a timeline
// entry's channel, how a responder answered. The values are stored as they
// are (outbox and timeline rows, policies.json), so they never change.
type Channel string

const (
	// Channel119 is the 119 hand-off (CAP over HTTPS, dispatch/cap).
	Channel119 Channel = "cap"
	// ChannelSMS and ChannelVoice reach people through Twilio
	// (dispatch/twilio).
	ChannelSMS   Channel = "sms"
	ChannelVoice Channel = "voice"
	// ChannelConsole is a step shown on the consoles, and what a console
	// user did (acknowledge, cancel, send to 119).
	ChannelConsole Channel = "console"
	// ChannelHub is the home's hub: commands to it (KindCommand rows), and
	// what the resident did there (a check-in, a cancel).
	ChannelHub Channel = "hub"
)
