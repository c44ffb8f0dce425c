package store

// Accounts and sessions of the people who use the consoles. The store keeps
// what it is given: hashing passwords and session tokens is the console's
// job, so that no secret in the clear ever reaches the database.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
)

// Accounts is the sub-store of the console's people: accounts, sessions
// and the audit log (console.AccountStore and web.AuditLog). The
// records are the console's (console.Account, console.Session); the store
// keeps updated_us for itself.
type Accounts struct{ *database }

// Accounts returns the sub-store of accounts, sessions and the audit log.
func (s *Store) Accounts() Accounts { return Accounts{s.database} }

const accountColumns = `id, name, role, password_hash, disabled, created_us, updated_us, regions`

func scanAccount(sc row) (console.Account, error) {
	var a console.Account
	var created, updated int64
	var regions string
	if err := sc.Scan(&a.ID, &a.Name, &a.Role, &a.PasswordHash, &a.Disabled, &created, &updated, &regions); err != nil {
		return a, err
	}
	if err := json.Unmarshal([]byte(regions), &a.Regions); err != nil {
		return a, fmt.Errorf("account %s: regions: %w", a.ID, err)
	}
	a.CreatedAt = fromUS(created)
	return a, nil
}

// validAccountID accepts login names: 1-64 characters of [a-z0-9._-],
// starting with a letter or digit.
func validAccountID(id string) bool {
	if id == "" || len(id) > devices.MaxIDLen || id[0] == '.' || id[0] == '-' || id[0] == '_' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// CreateAccount stores a new account, its creation time the store's clock.
// An existing id is devices.ErrConflict.
func (s Accounts) CreateAccount(ctx context.Context, a console.Account) error {
	switch {
	case !validAccountID(a.ID):
		return invalid("account id %q: 1-64 characters of a-z, 0-9, '.', '-', '_'", a.ID)
	case a.Role == "":
		return invalid("account %s: role is required", a.ID)
	case a.PasswordHash == "":
		return invalid("account %s: password hash is required", a.ID)
	}
	a.CreatedAt = s.now()
	n, err := s.be.exec(ctx, `INSERT INTO accounts (`+accountColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id) DO NOTHING`, a.ID, a.Name, a.Role, a.PasswordHash, a.Disabled, toUS(a.CreatedAt), toUS(a.CreatedAt), regionsJSON(a.Regions))
	if err != nil {
		return fmt.Errorf("store: create account: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("store: %w: account %s", devices.ErrConflict, a.ID)
	}
	return nil
}

// GetAccount returns one account, or an error wrapping devices.ErrNotFound.
func (s Accounts) GetAccount(ctx context.Context, id string) (console.Account, error) {
	a, err := scanAccount(s.be.queryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, id))
	return one(a, err, "account", id)
}

// ListAccounts returns every account in id order. Accounts are people, a
// few thousand at most, so there is no paging.
func (s Accounts) ListAccounts(ctx context.Context) ([]console.Account, error) {
	rows, err := s.be.query(ctx, `SELECT `+accountColumns+` FROM accounts ORDER BY id`)
	return collect(rows, err, "list accounts", scanAccount)
}

// CountAccounts returns how many accounts exist, disabled ones included.
func (s Accounts) CountAccounts(ctx context.Context) (int, error) {
	var n int
	if err := s.be.queryRow(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count accounts: %w", err)
	}
	return n, nil
}

// SetAccountDisabled disables or re-enables an account. Disabling also ends
// its sessions, in the same transaction.
func (s Accounts) SetAccountDisabled(ctx context.Context, id string, disabled bool) error {
	return s.be.inTx(ctx, func(q querier) error {
		n, err := q.exec(ctx, `UPDATE accounts SET disabled = $2, updated_us = $3 WHERE id = $1`, id, disabled, toUS(s.now()))
		if err != nil {
			return fmt.Errorf("store: update account: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("store: account %s: %w", id, devices.ErrNotFound)
		}
		if disabled {
			if _, err := q.exec(ctx, `DELETE FROM sessions WHERE account_id = $1`, id); err != nil {
				return fmt.Errorf("store: end sessions: %w", err)
			}
		}
		return nil
	})
}

// SetAccountRegions replaces an account's regions (none: national). Its
// sessions stay: each request reads the account anew.
func (s Accounts) SetAccountRegions(ctx context.Context, id string, regions []string) error {
	n, err := s.be.exec(ctx, `UPDATE accounts SET regions = $2, updated_us = $3 WHERE id = $1`, id, regionsJSON(regions), toUS(s.now()))
	if err != nil {
		return fmt.Errorf("store: update account regions: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("store: account %s: %w", id, devices.ErrNotFound)
	}
	return nil
}

func regionsJSON(regions []string) string {
	if len(regions) == 0 {
		return "[]"
	}
	return mustJSON(regions)
}

// SetAccountPassword replaces an account's password hash and ends every
// session of the account: whoever knew the old password is signed out.
func (s Accounts) SetAccountPassword(ctx context.Context, id, hash string) error {
	if hash == "" {
		return invalid("account %s: password hash is required", id)
	}
	return s.be.inTx(ctx, func(q querier) error {
		n, err := q.exec(ctx, `UPDATE accounts SET password_hash = $2, updated_us = $3 WHERE id = $1`, id, hash, toUS(s.now()))
		if err != nil {
			return fmt.Errorf("store: update account: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("store: account %s: %w", id, devices.ErrNotFound)
		}
		if _, err := q.exec(ctx, `DELETE FROM sessions WHERE account_id = $1`, id); err != nil {
			return fmt.Errorf("store: end sessions: %w", err)
		}
		return nil
	})
}

// CreateSession stores a new session.
func (s Accounts) CreateSession(ctx context.Context, se console.Session) error {
	if se.TokenHash == "" || se.AccountID == "" || se.ExpiresAt.IsZero() {
		return invalid("session: token hash, account and expiry are required")
	}
	_, err := s.be.exec(ctx, `INSERT INTO sessions (token_hash, account_id, csrf_token, remote, created_us, last_seen_us, expires_us)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, se.TokenHash, se.AccountID, se.CSRFToken, se.Remote,
		toUS(se.CreatedAt), toUS(se.LastSeen), toUS(se.ExpiresAt))
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// GetSession returns the session with the token hash, expired or not (the
// caller compares ExpiresAt with its clock), or an error wrapping
// devices.ErrNotFound.
func (s Accounts) GetSession(ctx context.Context, tokenHash string) (console.Session, error) {
	var se console.Session
	var created, seen, expires int64
	err := s.be.queryRow(ctx, `SELECT token_hash, account_id, csrf_token, remote, created_us, last_seen_us, expires_us
		FROM sessions WHERE token_hash = $1`, tokenHash).Scan(&se.TokenHash, &se.AccountID, &se.CSRFToken, &se.Remote, &created, &seen, &expires)
	if isNoRows(err) {
		return se, fmt.Errorf("store: session: %w", devices.ErrNotFound)
	}
	if err != nil {
		return se, fmt.Errorf("store: get session: %w", err)
	}
	se.CreatedAt, se.LastSeen, se.ExpiresAt = fromUS(created), fromUS(seen), fromUS(expires)
	return se, nil
}

// TouchSession records activity on a session and moves its expiry.
func (s Accounts) TouchSession(ctx context.Context, tokenHash string, lastSeen, expires time.Time) error {
	n, err := s.be.exec(ctx, `UPDATE sessions SET last_seen_us = $2, expires_us = $3 WHERE token_hash = $1`,
		tokenHash, toUS(lastSeen), toUS(expires))
	if err != nil {
		return fmt.Errorf("store: touch session: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("store: session: %w", devices.ErrNotFound)
	}
	return nil
}

// DeleteSession ends one session (sign-out). Ending a session that does not
// exist is not an error.
func (s Accounts) DeleteSession(ctx context.Context, tokenHash string) error {
	if _, err := s.be.exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions that expired before now and
// returns how many.
func (s Accounts) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	n, err := s.be.exec(ctx, `DELETE FROM sessions WHERE expires_us < $1`, toUS(now))
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	return n, nil
}

// CreateAPIToken stores the hash of a new API token of an existing
// account (devices.ErrNotFound for none).
func (s Accounts) CreateAPIToken(ctx context.Context, tokenHash, accountID string) error {
	if tokenHash == "" {
		return invalid("api token: the hash is required")
	}
	n, err := s.be.exec(ctx, `INSERT INTO api_tokens (token_hash, account_id, created_us)
		SELECT CAST($1 AS TEXT), id, CAST($3 AS BIGINT) FROM accounts WHERE id = $2`, tokenHash, accountID, toUS(s.now()))
	if err != nil {
		return fmt.Errorf("store: create api token: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("store: account %s: %w", accountID, devices.ErrNotFound)
	}
	return nil
}

// APITokenAccount returns the account an API token belongs to.
func (s Accounts) APITokenAccount(ctx context.Context, tokenHash string) (console.Account, error) {
	a, err := scanAccount(s.be.queryRow(ctx, `SELECT a.id, a.name, a.role, a.password_hash, a.disabled, a.created_us, a.updated_us, a.regions
		FROM api_tokens t JOIN accounts a ON a.id = t.account_id WHERE t.token_hash = $1`, tokenHash))
	return one(a, err, "api token", "")
}

// DeleteAPITokens revokes every API token of an account.
func (s Accounts) DeleteAPITokens(ctx context.Context, accountID string) (int64, error) {
	n, err := s.be.exec(ctx, `DELETE FROM api_tokens WHERE account_id = $1`, accountID)
	if err != nil {
		return 0, fmt.Errorf("store: delete api tokens: %w", err)
	}
	return n, nil
}
