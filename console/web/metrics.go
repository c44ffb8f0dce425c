package web

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Reasons a sign-in is refused, the label of login_refused_total.
const (
	refusedBadForm        = "bad_form"        // not a form, or over 8 KiB
	refusedCSRF           = "csrf"            // login token missing, forged or expired
	refusedTooLong        = "too_long"        // user name or password over its bound
	refusedAddressLimited = "address_limited" // the client's address (IPv4, IPv6 /64) over its limit
	refusedAccountLimited = "account_limited" // the account under attack, this address's guesses used
	refusedWrongPassword  = "wrong_password"  // or unknown or disabled account
)

// webMetrics count what the console refuses: bad input costs a counter, not
// a log line or a database write each.
type webMetrics struct {
	loginRefused *prometheus.CounterVec
	auditRows    *prometheus.CounterVec
	badRedirect  prometheus.Counter
	badForwarded prometheus.Counter
}

func newWebMetrics(reg prometheus.Registerer) *webMetrics {
	f := promauto.With(reg)
	const ns, sub = "dolbom", "console"
	m := &webMetrics{
		loginRefused: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "login_refused_total",
			Help: "Sign-ins refused, by reason."}, []string{"reason"}),
		auditRows: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "login_audit_rows_total",
			Help: "Audit rows written for refused sign-ins: first (of an account and address), summary (a count per minute), overflow (beyond the per-minute bound)."}, []string{"kind"}),
		badRedirect: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "bad_redirect_total",
			Help: "Sign-in requests whose next page was not a path on this site (sent to the default page instead)."}),
		badForwarded: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "bad_forwarded_for_total",
			Help: "Requests from a trusted proxy whose X-Forwarded-For could not be read (the proxy's address was used)."}),
	}
	for _, r := range []string{refusedBadForm, refusedCSRF, refusedTooLong, refusedAddressLimited, refusedAccountLimited, refusedWrongPassword} {
		m.loginRefused.WithLabelValues(r)
	}
	for _, k := range []string{auditFirst, auditSummary, auditOverflow} {
		m.auditRows.WithLabelValues(k)
	}
	return m
}
