package storetest

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
)

// RunConsole runs the contract tests of what the consoles keep: accounts,
// sessions, the audit log, visits and the dashboard's activity queries.
func RunConsole(t *testing.T, fresh Fresh) {
	tests := suite{
		{"Accounts", testAccounts},
		{"Sessions", testSessions},
		{"APITokens", testAPITokens},
		{"WorkOrders", testWorkOrders},
		{"WorkOrderNotices", testWorkOrderNotices},
		{"Audit", testAudit},
		{"Visits", testVisits},
		{"CaseloadActivity", testCaseloadActivity},
		{"CaseloadMonth", testCaseloadMonth},
	}
	tests.run(t, fresh)
}

func testAccounts(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	if n, err := s.Accounts().CountAccounts(ctx); err != nil || n != 0 {
		t.Fatalf("CountAccounts on empty = %d, %v", n, err)
	}
	a := console.Account{ID: "sw-kim", Name: "김사회", Role: "social_worker", PasswordHash: "$argon2id$a", Regions: []string{"26350"}}
	if err := s.Accounts().CreateAccount(ctx, a); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	err := s.Accounts().CreateAccount(ctx, console.Account{ID: "sw-kim", Name: "x", Role: "admin", PasswordHash: "h"})
	wantErr(t, "duplicate account", err, devices.ErrConflict)
	for _, bad := range []console.Account{
		{ID: "Upper", Role: "admin", PasswordHash: "h"},
		{ID: "", Role: "admin", PasswordHash: "h"},
		{ID: "ok", Role: "", PasswordHash: "h"},
		{ID: "ok", Role: "admin", PasswordHash: ""},
	} {
		err := s.Accounts().CreateAccount(ctx, bad)
		wantErr(t, "invalid account "+bad.ID, err, devices.ErrInvalid)
	}
	got, err := s.Accounts().GetAccount(ctx, "sw-kim")
	a.CreatedAt = got.CreatedAt // the store's clock
	if err != nil || !reflect.DeepEqual(got, a) || got.CreatedAt.IsZero() {
		t.Errorf("GetAccount = %+v, %v; want %+v", got, err, a)
	}
	// Regions are replaced; none is national (what the migration gives
	// every existing account).
	if err := s.Accounts().SetAccountRegions(ctx, "sw-kim", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Accounts().GetAccount(ctx, "sw-kim"); err != nil || !got.National() {
		t.Errorf("after SetAccountRegions(nil): %+v, %v; want national", got, err)
	}
	if err := s.Accounts().SetAccountRegions(ctx, "sw-kim", []string{"26350"}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "SetAccountRegions(nobody)", s.Accounts().SetAccountRegions(ctx, "nobody", []string{"26"}), devices.ErrNotFound)
	_, err = s.Accounts().GetAccount(ctx, "nobody")
	wantErr(t, "GetAccount(nobody)", err, devices.ErrNotFound)

	if err := s.Accounts().SetAccountPassword(ctx, "sw-kim", "$argon2id$b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Accounts().SetAccountDisabled(ctx, "sw-kim", true); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Accounts().GetAccount(ctx, "sw-kim")
	if got.PasswordHash != "$argon2id$b" || !got.Disabled {
		t.Errorf("after password reset and disable: %+v", got)
	}
	wantErr(t, "disable nobody", s.Accounts().SetAccountDisabled(ctx, "nobody", true), devices.ErrNotFound)
	wantErr(t, "password of nobody", s.Accounts().SetAccountPassword(ctx, "nobody", "h"), devices.ErrNotFound)

	if err := s.Accounts().CreateAccount(ctx, console.Account{ID: "admin", Role: "admin", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	list, err := s.Accounts().ListAccounts(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "admin" || list[1].ID != "sw-kim" {
		t.Errorf("ListAccounts = %+v, %v", list, err)
	}
	if n, _ := s.Accounts().CountAccounts(ctx); n != 2 {
		t.Errorf("CountAccounts = %d, want 2", n)
	}
}

func testSessions(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	if err := s.Accounts().CreateAccount(ctx, console.Account{ID: "d1", Role: "dispatcher", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	se := console.Session{TokenHash: "th1", AccountID: "d1", CSRFToken: "c1", Remote: "10.0.0.1",
		CreatedAt: base, LastSeen: base, ExpiresAt: base.Add(time.Hour)}
	if err := s.Accounts().CreateSession(ctx, se); err != nil {
		t.Fatal(err)
	}
	got, err := s.Accounts().GetSession(ctx, "th1")
	if err != nil || got != se {
		t.Errorf("GetSession = %+v, %v; want %+v", got, err, se)
	}
	if err := s.Accounts().TouchSession(ctx, "th1", base.Add(time.Minute), base.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Accounts().GetSession(ctx, "th1")
	if !got.ExpiresAt.Equal(base.Add(2*time.Hour)) || !got.LastSeen.Equal(base.Add(time.Minute)) {
		t.Errorf("after touch: %+v", got)
	}
	wantErr(t, "touch missing", s.Accounts().TouchSession(ctx, "nope", base, base), devices.ErrNotFound)

	old := se
	old.TokenHash, old.ExpiresAt = "th-old", base.Add(-time.Second)
	if err := s.Accounts().CreateSession(ctx, old); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Accounts().DeleteExpiredSessions(ctx, base); err != nil || n != 1 {
		t.Errorf("DeleteExpiredSessions = %d, %v; want 1", n, err)
	}
	if err := s.Accounts().DeleteSession(ctx, "th1"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Accounts().GetSession(ctx, "th1")
	wantErr(t, "deleted session", err, devices.ErrNotFound)

	// A password reset and a disable both sign the account out everywhere.
	for i, end := range []func() error{
		func() error { return s.Accounts().SetAccountPassword(ctx, "d1", "h2") },
		func() error { return s.Accounts().SetAccountDisabled(ctx, "d1", true) },
	} {
		se.TokenHash = "th-end"
		if err := s.Accounts().CreateSession(ctx, se); err != nil {
			t.Fatal(err)
		}
		if err := end(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Accounts().GetSession(ctx, "th-end"); !errors.Is(err, devices.ErrNotFound) {
			t.Errorf("case %d: session survived: %v", i, err)
		}
	}
}

func testAudit(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	entries := []console.AuditEntry{
		{At: base, AccountID: "sw-1", Action: "resident.view", ResidentID: "res-a", Remote: "10.0.0.1"},
		{At: base.Add(time.Second), AccountID: "d-1", Action: "incident.ack", IncidentID: "inc-1", ResidentID: "res-b", Detail: "ok"},
		{At: base.Add(2 * time.Second), AccountID: "sw-1", Action: "visit.add", ResidentID: "res-a"},
	}
	for _, e := range entries {
		if err := s.Accounts().AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, "audit without account", s.Accounts().AppendAudit(ctx, console.AuditEntry{Action: "x"}), devices.ErrInvalid)
	all, err := s.Accounts().ListAudit(ctx, console.AuditQuery{})
	if err != nil || len(all) != 3 {
		t.Fatalf("ListAudit = %+v, %v", all, err)
	}
	if all[0].Action != "visit.add" || all[2].Action != "resident.view" || all[0].Seq <= all[1].Seq {
		t.Errorf("not newest first: %+v", all)
	}
	e := all[1]
	if e.AccountID != "d-1" || e.IncidentID != "inc-1" || e.ResidentID != "res-b" || e.Detail != "ok" || !e.At.Equal(base.Add(time.Second)) {
		t.Errorf("entry = %+v", e)
	}
	byResident, _ := s.Accounts().ListAudit(ctx, console.AuditQuery{ResidentID: "res-a"})
	byAccount, _ := s.Accounts().ListAudit(ctx, console.AuditQuery{AccountID: "d-1"})
	page, _ := s.Accounts().ListAudit(ctx, console.AuditQuery{Before: all[0].Seq, Limit: 1})
	if len(byResident) != 2 || len(byAccount) != 1 || len(page) != 1 || page[0].Seq != all[1].Seq {
		t.Errorf("filters: resident %d, account %d, page %+v", len(byResident), len(byAccount), page)
	}
}

func testVisits(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	mine, theirs := twoCaseloads(t, s)
	add := func(res devices.ResidentID, kind string, at, next time.Time) {
		t.Helper()
		if err := s.Casework().AddVisit(ctx, &console.Visit{ResidentID: res, Kind: console.VisitKind(kind), At: at, AccountID: "sw-1", Notes: "잘 지내심", Next: next}); err != nil {
			t.Fatal(err)
		}
	}
	add(mine.ID, "visit", base.AddDate(0, -2, 0), base.AddDate(0, -1, 0))
	add(mine.ID, "call", base.AddDate(0, 0, -3), base.AddDate(0, 0, 20))
	add(mine.ID, "visit", base.AddDate(0, 0, -40), time.Time{})
	add(theirs.ID, "visit", base, time.Time{})
	err := s.Casework().AddVisit(ctx, &console.Visit{ResidentID: mine.ID, Kind: "letter", At: base, AccountID: "sw-1"})
	wantErr(t, "visit kind letter", err, devices.ErrInvalid)

	list, err := s.Casework().ListVisits(ctx, mine.ID, 10)
	if err != nil || len(list) != 3 || list[0].Kind != "call" || list[0].Notes != "잘 지내심" || !list[0].Next.Equal(base.AddDate(0, 0, 20)) {
		t.Errorf("ListVisits = %+v, %v", list, err)
	}
	sums, err := s.Casework().VisitSummaries(ctx, "sw-1")
	if err != nil || len(sums) != 1 {
		t.Fatalf("VisitSummaries = %+v, %v", sums, err)
	}
	want := console.VisitSummary{ResidentID: mine.ID, LastVisit: base.AddDate(0, 0, -40), LastCall: base.AddDate(0, 0, -3), Next: base.AddDate(0, 0, 20)}
	if got := sums[0]; got.ResidentID != want.ResidentID || !got.LastVisit.Equal(want.LastVisit) || !got.LastCall.Equal(want.LastCall) || !got.Next.Equal(want.Next) {
		t.Errorf("VisitSummaries[0] = %+v, want %+v", got, want)
	}
}

func testCaseloadActivity(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	start(t, s)
	ctx := ctxT(t)
	r := sampleResident()
	r.SocialWorkerID = "sw-1"
	mine, err := s.Registry().CreateResident(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	r.SocialWorkerID = "sw-2"
	theirs, err := s.Registry().CreateResident(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []devices.Hub{{ID: "hub-mine", ResidentID: mine.ID}, {ID: "hub-theirs", ResidentID: theirs.ID}} {
		h.InstalledAt, h.SecretHash = base.AddDate(-1, 0, 0), "$argon2id$x"
		if _, err := s.Registry().CreateHub(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	// Motion from two sensors of one hub in the same hour: counted once as
	// an hour with data, summed as motion. Heart rate never counts.
	now := base
	split := now.Add(-72 * time.Hour)
	from := now.Add(-30 * 24 * time.Hour)
	batch := &devices.ReadingBatch{Hub: "hub-mine", Readings: []devices.Reading{
		reading("pir-1", devices.MetricMotion, split.Add(30*time.Minute), 4),
		reading("pir-2", devices.MetricMotion, split.Add(40*time.Minute), 1),
		reading("pir-1", devices.MetricMotion, split.Add(-2*time.Hour), 10),
		reading("pir-1", devices.MetricMotion, split.Add(-5*time.Hour), 20),
		reading("pir-1", devices.MetricMotion, from.Add(-time.Hour), 1000), // before the window
		{Sensor: "radar", Metric: devices.MetricHeartRate, At: split.Add(time.Hour), Value: 70, Quality: 0.9},
	}}
	other := &devices.ReadingBatch{Hub: "hub-theirs", Readings: []devices.Reading{reading("pir-1", devices.MetricMotion, split.Add(time.Hour), 7)}}
	for _, b := range []*devices.ReadingBatch{batch, other} {
		if err := s.Journal().AppendReadings(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Casework().CaseloadActivity(ctx, "sw-1", from, split, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []console.ActivityWindow{{ResidentID: mine.ID, RecentSum: 5, RecentHours: 1, BaselineSum: 30, BaselineHours: 2}}
	if len(got) != 1 || got[0] != want[0] {
		t.Errorf("CaseloadActivity = %+v, want %+v", got, want)
	}

	hr, err := s.Casework().ResidentHourly(ctx, mine.ID, devices.MetricMotion, split.Add(-time.Hour), now)
	if err != nil || len(hr) != 1 || hr[0].Count != 2 || hr[0].Sum != 5 || hr[0].Min != 1 || hr[0].Max != 4 || hr[0].Avg != 2.5 {
		t.Errorf("ResidentHourly = %+v, %v", hr, err)
	}
}

// testCaseloadMonth: the visits and incidents of one social worker's
// residents in a period, and nobody else's (the monthly caseload report).
func testCaseloadMonth(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	mine, theirs := twoCaseloads(t, s)
	from, to := base.AddDate(0, 0, -10), base
	for _, v := range []console.Visit{
		{ResidentID: mine.ID, Kind: "visit", At: from.Add(-time.Hour)}, // before
		{ResidentID: mine.ID, Kind: "visit", At: from},
		{ResidentID: mine.ID, Kind: "call", At: to.Add(-time.Hour)},
		{ResidentID: mine.ID, Kind: "call", At: to}, // after
		{ResidentID: theirs.ID, Kind: "visit", At: from.Add(time.Hour)},
	} {
		v.AccountID = "sw-1"
		if err := s.Casework().AddVisit(ctx, &v); err != nil {
			t.Fatal(err)
		}
	}
	visits, err := s.Casework().CaseloadVisits(ctx, "sw-1", from, to)
	if err != nil || len(visits) != 2 || visits[0].Kind != "visit" || !visits[0].At.Equal(from) || visits[1].Kind != "call" {
		t.Errorf("CaseloadVisits = %+v, %v; want the visit at the start and the call before the end", visits, err)
	}

	var muts []dispatch.Mutation
	for i, c := range []struct {
		id       string
		resident devices.ResidentID
		at       time.Time
		cause    detectors.Cause
	}{
		{"inc-before", mine.ID, from.Add(-time.Second), detectors.CauseFall},
		{"inc-fall", mine.ID, from.Add(time.Hour), detectors.CauseFall},
		{"inc-offline", mine.ID, from.Add(2 * time.Hour), detectors.CauseHubOffline},
		{"inc-theirs", theirs.ID, from.Add(time.Hour), detectors.CauseSOS},
		{"inc-after", mine.ID, to, detectors.CauseSOS},
	} {
		inc := dispatch.Incident{ID: c.id, Fingerprint: c.id, Hub: devices.HubID("hub-" + string(rune('a'+i))), ResidentID: c.resident,
			Cause: c.cause, Class: detectors.ClassEmergency, Priority: 2, State: dispatch.StateOpen, Count: 1,
			Episode: c.at, OpenedAt: c.at, UpdatedAt: c.at}
		muts = append(muts, dispatch.Mutation{Fingerprint: c.id, Apply: func(*dispatch.Incident, *dispatch.OutboxRow) (dispatch.Change, error) {
			return dispatch.Change{Incident: &inc}, nil
		}})
	}
	res, err := s.Incidents().ApplyIncidents(ctx, muts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	incs, err := s.Casework().CaseloadIncidents(ctx, "sw-1", from, to)
	if err != nil || len(incs) != 2 || incs[0].ID != "inc-fall" || incs[1].ID != "inc-offline" {
		t.Errorf("CaseloadIncidents = %+v, %v; want inc-fall and inc-offline", incs, err)
	}
}

// twoCaseloads makes a resident of social worker sw-1 and one of sw-2.
func twoCaseloads(t *testing.T, s *store.Store) (mine, theirs devices.Resident) {
	t.Helper()
	r := sampleResident()
	r.SocialWorkerID = "sw-1"
	mine, err := s.Registry().CreateResident(ctxT(t), r)
	if err != nil {
		t.Fatal(err)
	}
	r.SocialWorkerID = "sw-2"
	if theirs, err = s.Registry().CreateResident(ctxT(t), r); err != nil {
		t.Fatal(err)
	}
	return mine, theirs
}

// testAPITokens: a token names its account, read anew (regions set after
// the token was made show), and is revoked with the account's others.
func testAPITokens(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	if err := s.Accounts().CreateAccount(ctx, console.Account{ID: "busan-admin", Role: "admin", PasswordHash: "h", Regions: []string{"26"}}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "token of nobody", s.Accounts().CreateAPIToken(ctx, "tk-x", "nobody"), devices.ErrNotFound)
	for _, h := range []string{"tk-1", "tk-2"} {
		if err := s.Accounts().CreateAPIToken(ctx, h, "busan-admin"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Accounts().SetAccountRegions(ctx, "busan-admin", []string{"26350"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Accounts().APITokenAccount(ctx, "tk-2")
	if err != nil || got.ID != "busan-admin" || got.Role != "admin" || !slices.Equal(got.Regions, []string{"26350"}) {
		t.Errorf("APITokenAccount(tk-2) = %+v, %v", got, err)
	}
	_, err = s.Accounts().APITokenAccount(ctx, "tk-x")
	wantErr(t, "unknown token", err, devices.ErrNotFound)
	if n, err := s.Accounts().DeleteAPITokens(ctx, "busan-admin"); err != nil || n != 2 {
		t.Errorf("DeleteAPITokens = %d, %v; want 2", n, err)
	}
	_, err = s.Accounts().APITokenAccount(ctx, "tk-1")
	wantErr(t, "revoked token", err, devices.ErrNotFound)
}
