package gateway

import (
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/ota"
)

// What each route may send and how long it may take. The server bounds
// every request (HTTPLimits: 10 s to read it, 30 s to answer); a route's
// bounds tighten or extend those where its job differs. The handlers keep
// their own body limits too; the smaller one applies.
const (
	// defaultBodyBytes: JSON (the APIs) and forms (the consoles).
	defaultBodyBytes = 64 << 10
	// callbackBodyBytes: 119's answers and Twilio's callbacks are a few
	// hundred bytes, and come unauthenticated until their signature or
	// token is checked, which needs the body read first.
	callbackBodyBytes = 16 << 10
	// loginBodyBytes: a user name, a password and two tokens.
	loginBodyBytes = 8 << 10
	// importBodyBytes: the admin API's CSV import, ~100,000 residents; it
	// may take importReadTimeout to arrive over an office line and
	// importWriteTimeout to be created.
	importBodyBytes    = 32 << 20
	importReadTimeout  = 5 * time.Minute
	importWriteTimeout = 10 * time.Minute
	// reportWriteTimeout: a report over a year of national incidents is
	// added up before its page is written.
	reportWriteTimeout = 2 * time.Minute
)

// bounds are one route's limits: its body, and the time from now to read
// the rest of the request (0: the server's ReadTimeout) and to answer (0:
// the server's WriteTimeout). The incident streams set their own
// deadlines (one per write, api.IncidentAPIConfig.StreamWriteTimeout).
type bounds struct {
	body        int64
	read, write time.Duration
}

func (b bounds) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if b.read > 0 {
			_ = rc.SetReadDeadline(time.Now().Add(b.read))
		}
		if b.write > 0 {
			_ = rc.SetWriteDeadline(time.Now().Add(b.write))
		}
		r.Body = http.MaxBytesReader(w, r.Body, b.body)
		h.ServeHTTP(w, r)
	})
}

// routes is the HTTP server's handler: every route with its bounds.
func (g *Gateway) routes(web http.Handler) http.Handler {
	st, log := g.Store, g.log
	mux := http.NewServeMux()
	handle := func(pattern string, b bounds, h http.Handler) {
		if b.body == 0 {
			b.body = defaultBodyBytes
		}
		mux.Handle(pattern, b.wrap(h))
	}
	plain := bounds{}
	handle("GET /healthz", plain, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
	handle("GET /readyz", plain, &g.ready)
	handle("GET /metrics", plain, promhttp.HandlerFor(g.Registry, promhttp.HandlerOpts{Registry: g.Registry}))

	incidents := api.NewIncidentAPI(api.IncidentAPIConfig{Token: g.Token,
		Tokens: st.Accounts(), Residents: st.Registry(), IncidentRegions: st.Routes()}, g.Dispatch, log)
	handle("/api/v1/incidents", plain, incidents)
	handle("/api/v1/incidents/", plain, incidents) // the stream included: it sets its own deadlines
	handle("/api/v1/policies/", plain, incidents)

	callback := bounds{body: callbackBodyBytes}
	handle("POST /api/v1/119/answers", callback, g.channels.answers)
	handle("/twilio/", callback, g.channels.webhooks)

	admin := api.NewAdminAPI(api.AdminConfig{Token: g.Token, Events: st.Journal(), MaxImportBytes: importBodyBytes,
		Routes: routeAdmin{Router: g.channels.routes, Routes: st.Routes(), residents: st.Registry()}, Accounts: st.Accounts(), Fleet: g.fleet,
		Tokens: st.Accounts(), IncidentRegions: st.Routes(), WorkOrders: st.WorkOrders(), Rollouts: rolloutAdmin{g.OTA}},
		g.registry(), g.healthReader(), g.hubControl(), log)
	handle(api.APIPrefix, plain, admin)
	handle("POST "+api.APIPrefix+"import/residents", bounds{body: importBodyBytes, read: importReadTimeout, write: importWriteTimeout}, admin)
	// A firmware image is up to 64 MiB, published over an office line and
	// fetched by hubs over theirs.
	firmware := bounds{body: api.MaxFirmwareBytes + 1, read: importReadTimeout, write: importReadTimeout}
	handle("POST "+api.APIPrefix+"firmware/", firmware, admin)
	handle("GET /firmware/", bounds{write: importReadTimeout}, ota.ImageHandler(st.Rollouts()))

	handle("/", plain, web)
	handle("POST /login", bounds{body: loginBodyBytes}, web)
	handle("GET /reports", bounds{write: reportWriteTimeout}, web)
	handle("GET /reports/export.csv", bounds{write: reportWriteTimeout}, web)
	// The fleet's CSV holds every matching hub (300,000 nationally): the
	// reports' write bound.
	handle("GET /console/api/fleet.csv", bounds{write: reportWriteTimeout}, web)
	handle("GET "+api.APIPrefix+"fleet.csv", bounds{write: reportWriteTimeout}, admin)
	return mux
}
