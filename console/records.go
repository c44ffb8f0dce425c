// Package console holds what the console's two doors share: the records
// the store keeps for them, declared once (accounts and sessions, the audit
// log, visits, hourly rollups, report rows, list queries), the ports both
// call (AccountStore, HealthReader, HubControl), tokens and the first
// admin. console/api is the bearer-token JSON API (docs/api.md),
// console/web the pages and sign-in (docs/console.md). The store imports
// these types and implements the ports directly; console imports neither
// door.
package console

import (
	"context"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// Role is what an account may do.
type Role string

const (
	// RoleDispatcher works the incident queue (119 and the monitoring
	// centre). Medical and access details are shown only while the
	// resident has an open incident.
	RoleDispatcher Role = "dispatcher"
	// RoleSocialWorker looks after the residents whose SocialWorkerID is
	// the account's id, and no one else.
	RoleSocialWorker Role = "social_worker"
	// RoleAdmin manages accounts and reads the audit log.
	RoleAdmin Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleDispatcher || r == RoleSocialWorker || r == RoleAdmin }

// Account is a person who signs in. ID is the login name, and what
// devices.Resident.SocialWorkerID names.
type Account struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Role         Role   `json:"role"`
	PasswordHash string `json:"-"`
	Disabled     bool   `json:"disabled"`
	// Regions limit what the account sees and acts on (scope.go): none is
	// national.
	Regions   []string  `json:"regions"`
	CreatedAt time.Time `json:"created_at"`
}

// Session is one signed-in browser. Only a hash of the cookie's token is
// stored.
type Session struct {
	TokenHash string
	AccountID string
	CSRFToken string
	Remote    string
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time
}

// AccountStore keeps accounts and sessions. Missing records wrap
// devices.ErrNotFound; a taken id wraps devices.ErrConflict.
type AccountStore interface {
	CreateAccount(ctx context.Context, a Account) error
	GetAccount(ctx context.Context, id string) (Account, error)
	ListAccounts(ctx context.Context) ([]Account, error)
	CountAccounts(ctx context.Context) (int, error)
	SetAccountDisabled(ctx context.Context, id string, disabled bool) error
	// SetAccountRegions replaces the account's regions (checked and
	// normalized by the caller: NormalizeRegions); none makes it national.
	SetAccountRegions(ctx context.Context, id string, regions []string) error
	// SetAccountPassword also ends every session of the account.
	SetAccountPassword(ctx context.Context, id, hash string) error

	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the session expired or not; the console checks
	// the expiry against its own clock.
	GetSession(ctx context.Context, tokenHash string) (Session, error)
	TouchSession(ctx context.Context, tokenHash string, lastSeen, expires time.Time) error
	DeleteSession(ctx context.Context, tokenHash string) error
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	AccountID  string    `json:"account_id"`
	Action     string    `json:"action"`
	ResidentID string    `json:"resident_id,omitempty"`
	IncidentID string    `json:"incident_id,omitempty"`
	Remote     string    `json:"remote,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	ResidentID string
	AccountID  string
	Before     int64 // entries with Seq below this; 0 for the newest
	Limit      int
}

// VisitKind is a home visit or a phone call.
type VisitKind string

const (
	VisitHome VisitKind = "visit"
	VisitCall VisitKind = "call"
)

// Visit is one contact of a social worker with a resident.
type Visit struct {
	ID         string             `json:"id"`
	ResidentID devices.ResidentID `json:"resident_id"`
	Kind       VisitKind          `json:"kind"`
	At         time.Time          `json:"at"`
	AccountID  string             `json:"account_id"`
	Notes      string             `json:"notes,omitempty"`
	Next       time.Time          `json:"next,omitzero"` // the next contact scheduled
}

// VisitSummary is a resident's latest visit and call and the next contact
// scheduled; zero times mean never or none.
type VisitSummary struct {
	ResidentID devices.ResidentID
	LastVisit  time.Time
	LastCall   time.Time
	Next       time.Time
}

// HourlyPoint summarises one metric over every sensor of a resident's hubs
// for one hour.
type HourlyPoint struct {
	Hour               time.Time
	Count              int64
	Sum, Min, Max, Avg float64
}

// ActivityWindow is a resident's motion in the recent window and in the
// baseline before it, with the hours that had any data in each.
type ActivityWindow struct {
	ResidentID    devices.ResidentID
	RecentSum     float64
	RecentHours   int
	BaselineSum   float64
	BaselineHours int
}

// PasswordParams are argon2id parameters for people's passwords: OWASP's
// recommended minimum (19 MiB, 2 passes, 1 lane). Unlike hub secrets,
// passwords are chosen by people and guessable, so every stolen hash must
// cost an attacker real memory and time per guess.
var PasswordParams = devices.SecretParams{Time: 2, Memory: 19 * 1024, Threads: 1}

// HashPassword hashes a person's password with argon2id at
// PasswordParams.
func HashPassword(password string) string { return devices.HashSecret(password, PasswordParams) }

// ReportIncident is one incident of a report period, with the escalation
// step and channel of the notification whose recipient acknowledged it
// (AckStep -1: acknowledged on the console, by 119, or not at all).
type ReportIncident struct {
	Incident   dispatch.Incident
	AckStep    int
	AckChannel string
}

// ListQuery selects one page of residents or hubs. The store takes it as it
// is (store imports console's records; console never imports store).
type ListQuery struct {
	// Limit is the most records to return. The API asks one more than the
	// page it answers (2-1001) to learn whether another page exists; a
	// registry may return fewer.
	Limit int
	After string // cursor: the id of the last record of the previous page; records are ordered by id
	// Search matches residents by name, phone or address (case-insensitive
	// substring); empty matches all.
	Search         string
	SocialWorkerID string             // residents of this social worker only
	ResidentID     devices.ResidentID // hubs of this resident only
	// Regions, when set, keeps the residents (and the hubs of residents)
	// whose district lies in one of these region codes (a regional
	// account's scope: Account.Regions).
	Regions         []string
	IncludeDisabled bool
}

// HealthReader gives the device health of a hub. It returns an error
// wrapping devices.ErrNotFound for a hub the gateway has never heard from.
type HealthReader interface {
	HubHealth(ctx context.Context, hub devices.HubID) (devices.HubHealth, error)
}

// HubControl acts on the broker's live sessions.
type HubControl interface {
	// Revoke drops the broker's cached credential of the hub and
	// disconnects its live session, if any. The API calls it when a hub is
	// disabled or its secret is rotated, so the old secret stops working at
	// once rather than at the next reconnect.
	Revoke(hub devices.HubID)
	// Connected is the number of hubs connected now.
	Connected() int
}

// APITokens keeps the bearer tokens of the API that belong to accounts
// (console/api): only a hash (HashToken) of each is stored. A missing
// token wraps devices.ErrNotFound.
type APITokens interface {
	CreateAPIToken(ctx context.Context, tokenHash, accountID string) error
	// APITokenAccount returns the account the token belongs to, disabled
	// or not (the caller refuses a disabled one).
	APITokenAccount(ctx context.Context, tokenHash string) (Account, error)
	// DeleteAPITokens revokes every token of the account and says how many.
	DeleteAPITokens(ctx context.Context, accountID string) (int64, error)
}
