package store

import (
	"context"

	"github.com/rs/zerolog"
)

// OpenAtVersion creates cfg's database as a binary that knew migrations 1
// to version only would have, and returns a function that runs SQL on it
// ($N placeholders) and one that closes it.
func OpenAtVersion(ctx context.Context, cfg Config, version int) (exec func(query string, args ...any) error, closeDB func(), err error) {
	var be backend
	if cfg.DatabaseURL != "" {
		be, err = openPostgres(ctx, cfg.DatabaseURL)
	} else {
		be, err = openSQLite(ctx, cfg.DataDir)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := migrateTo(ctx, be, zerolog.Nop(), version); err != nil {
		be.close()
		return nil, nil, err
	}
	exec = func(query string, args ...any) error { _, err := be.exec(ctx, query, args...); return err }
	return exec, be.close, nil
}
