package store

import (
	"context"
	"os"
	"strings"
	"testing"
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
