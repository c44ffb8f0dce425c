// Package storetest is the contract test suite that every store back end
// passes, and helpers that give each test a fresh, empty database.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/store"
	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
)

// Environment variables of the PostgreSQL tests.
const (
	EnvDatabaseURL     = "DOLBOM_TEST_DATABASE_URL"
	EnvRequirePostgres = "DOLBOM_REQUIRE_POSTGRES"
)

func baseConfig(t testing.TB) store.Config {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return store.Config{
		SecretKey:     key,
		Logger:        zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		FlushInterval: 20 * time.Millisecond,
	}
}

// SQLite returns the Config of a new embedded database in a temporary
// directory.
func SQLite(t testing.TB) store.Config {
	cfg := baseConfig(t)
	cfg.DataDir = t.TempDir()
	return cfg
}

// Postgres returns the Config of a new, empty schema in the database named
// by DOLBOM_TEST_DATABASE_URL, dropped when the test ends. Without the
// variable the test is skipped, or fails when DOLBOM_REQUIRE_POSTGRES=1.
func Postgres(t testing.TB) store.Config {
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		if os.Getenv(EnvRequirePostgres) == "1" {
			t.Fatalf("%s=1 but %s is not set (scripts/pgtest.sh start prints it)", EnvRequirePostgres, EnvDatabaseURL)
		}
		t.Skipf("PostgreSQL tests skipped: set %s (scripts/pgtest.sh start prints it)", EnvDatabaseURL)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect %s: %v", EnvDatabaseURL, err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	cfg := baseConfig(t)
	cfg.DatabaseURL = withSearchPath(base, schema)
	return cfg
}

func withSearchPath(dsn, schema string) string {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return strings.TrimSpace(dsn) + " search_path=" + schema // key=value form
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// raw runs fn with a direct connection to cfg's database, below the store,
// to inspect or tamper with what is stored.
type rawDB interface {
	exec(query string, args ...any) error
	queryRow(query string, args []any, dest ...any) error
}

type rawSQL struct{ db *sql.DB }

func (r rawSQL) exec(q string, args ...any) error { _, err := r.db.Exec(q, args...); return err }
func (r rawSQL) queryRow(q string, args []any, dest ...any) error {
	return r.db.QueryRow(q, args...).Scan(dest...)
}

type rawPG struct{ conn *pgx.Conn }

func (r rawPG) exec(q string, args ...any) error {
	_, err := r.conn.Exec(context.Background(), q, args...)
	return err
}
func (r rawPG) queryRow(q string, args []any, dest ...any) error {
	return r.conn.QueryRow(context.Background(), q, args...).Scan(dest...)
}

func openRaw(t *testing.T, cfg store.Config) rawDB {
	t.Helper()
	if cfg.DatabaseURL != "" {
		conn, err := pgx.Connect(context.Background(), cfg.DatabaseURL)
		if err != nil {
			t.Fatalf("raw connect: %v", err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return rawPG{conn}
	}
	db, err := sql.Open("sqlite", "file:"+store.SQLitePath(cfg.DataDir)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatalf("raw open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return rawSQL{db}
}
