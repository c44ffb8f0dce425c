package gateway

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/dolbom/dolbom/broker"
)

// validate refuses options that cannot make a working gateway, each with
// what to change, before New opens anything. cmd/dolbomd checks its flags
// in their own words; this guards every other caller (the simulator,
// tests), for which the same mistakes would otherwise pass silently (a
// certificate without its key serves no TLS) or fail late, half open.
func (o Options) validate() error {
	var errs []error
	if o.DataDir == "" {
		errs = append(errs, errors.New("no data folder (Options.DataDir): the store, the admin token and the keys are kept there"))
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		errs = append(errs, errors.New("a TLS certificate and its key go together (Options.CertFile, Options.KeyFile): with one alone no MQTT over TLS is served"))
	}
	mqtt := on(o.MQTTAddr)
	tls := o.CertFile != "" && o.KeyFile != "" && on(o.TLSAddr)
	ws := on(o.WSAddr)
	// No MQTT listener at all is allowed here: an in-process gateway may
	// serve no hubs (tests of the consoles and the store); cmd/dolbomd
	// refuses it for a process.
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"HeartbeatTimeout", o.HeartbeatTimeout}, {"RawRetention", o.RawRetention}, {"ShutdownTimeout", o.ShutdownTimeout},
		{"HTTP.ReadHeaderTimeout", o.HTTP.ReadHeaderTimeout}, {"HTTP.ReadTimeout", o.HTTP.ReadTimeout},
		{"HTTP.WriteTimeout", o.HTTP.WriteTimeout}, {"HTTP.IdleTimeout", o.HTTP.IdleTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("Options.%s is negative (%s): give a duration, or 0 for the default", d.name, d.v))
		}
	}
	// Two listeners on one address: the second would fail to listen after
	// the first is open, with a message naming neither option.
	seen := map[string]string{}
	for _, l := range []struct{ name, addr string }{
		{"HTTPAddr", o.HTTPAddr}, {"MQTTAddr", ifOn(mqtt, o.MQTTAddr)}, {"TLSAddr", ifOn(tls, o.TLSAddr)}, {"WSAddr", ifOn(ws, o.WSAddr)},
	} {
		if l.addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(l.addr); err == nil && port == "0" {
			continue // any free port: never the same
		}
		if other, ok := seen[l.addr]; ok {
			errs = append(errs, fmt.Errorf("Options.%s and Options.%s are both %q: each listener needs an address of its own", other, l.name, l.addr))
			continue
		}
		seen[l.addr] = l.name
	}
	errs = append(errs, o.clusterProblems()...)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	return nil
}

// on reports whether a listen address asks for a listener.
func on(addr string) bool { return addr != "" && addr != broker.ListenerOff }

func ifOn(on bool, addr string) string {
	if !on {
		return ""
	}
	return addr
}
