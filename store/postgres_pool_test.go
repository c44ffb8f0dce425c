package store

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestPostgresPoolSize: the pool has room for every writer and a connect
// wave's lookups unless the URL says otherwise.
func TestPostgresPoolSize(t *testing.T) {
	url := os.Getenv("DOLBOM_TEST_DATABASE_URL")
	if url == "" {
		t.Skip("DOLBOM_TEST_DATABASE_URL not set")
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	for _, c := range []struct {
		url  string
		want int32
	}{
		{url, defaultPoolConns},
		{url + sep + "pool_max_conns=5", 5},
	} {
		b, err := openPostgres(context.Background(), c.url)
		if err != nil {
			t.Fatal(err)
		}
		got := b.pool.Config().MaxConns
		b.pool.Close()
		if got != c.want {
			t.Errorf("%s: MaxConns = %d, want %d", c.url, got, c.want)
		}
	}
}

// TestPostgresTimeouts: every connection has a statement timeout and a
// connect timeout unless the URL sets its own, keepalives on, and the
// migration lifts the statement timeout for itself only.
func TestPostgresTimeouts(t *testing.T) {
	url := os.Getenv("DOLBOM_TEST_DATABASE_URL")
	if url == "" {
		t.Skip("DOLBOM_TEST_DATABASE_URL not set")
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	ctx := context.Background()
	for _, c := range []struct {
		url             string
		statement       string
		connectTimeout  time.Duration
		migrationLifted bool
	}{
		{url, "1min", pgConnectTimeout, true},
		{url + sep + "statement_timeout=7000&connect_timeout=9", "7s", 9 * time.Second, true},
	} {
		b, err := openPostgres(ctx, c.url)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if err := b.queryRow(ctx, `SHOW statement_timeout`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.statement {
			t.Errorf("%s: statement_timeout %s, want %s", c.url, got, c.statement)
		}
		if ct := b.pool.Config().ConnConfig.ConnectTimeout; ct != c.connectTimeout {
			t.Errorf("%s: connect timeout %s, want %s", c.url, ct, c.connectTimeout)
		}
		err = b.inTx(ctx, func(q querier) error {
			if err := b.lockMigrations(ctx, q); err != nil {
				return err
			}
			return q.queryRow(ctx, `SHOW statement_timeout`).Scan(&got)
		})
		if err != nil || got != "0" {
			t.Errorf("%s: statement_timeout in a migration %q, %v; want 0", c.url, got, err)
		}
		if err := b.ping(ctx); err != nil {
			t.Errorf("ping: %v", err)
		}
		b.close()
	}
}
