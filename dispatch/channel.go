package dispatch

import "strings"

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

// policyChannels are the channels a policy may notify by (a target's
// "via"): each is a Notifier the gateway builds. The hub is not one (it is
// sent commands, not notifications). A new channel is appended here, so
// that policy validation accepts it and its error names it.
var policyChannels = []Channel{Channel119, ChannelSMS, ChannelVoice, ChannelConsole}

// channelNames is policyChannels as the validation errors list them.
func channelNames() string {
	names := make([]string, len(policyChannels))
	for i, c := range policyChannels {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}
