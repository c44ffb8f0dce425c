package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// The two back ends' migrations are parallel by design: one schema, written
// in each database's dialect (types, upserts, indexes), numbered alike so
// that a version means the same tables on both. Their likeness is not
// duplication to fold: a shared text would have to be templated into two
// dialects, and every migration is frozen once released.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads NNNN_name.sql files in version order.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		num, _, ok := strings.Cut(path.Base(name), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %s: name must be NNNN_description.sql", name)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := range ms {
		if ms[i].version != i+1 {
			return nil, fmt.Errorf("store: migrations must be numbered 1, 2, 3...: found %s", ms[i].name)
		}
	}
	return ms, nil
}

// migrate applies the pending migrations in one transaction and refuses a
// database whose schema is newer than this binary's.
// now is the store's clock, for migrations that record a time.
func migrate(ctx context.Context, be backend, log zerolog.Logger, now time.Time) error {
	return migrateTo(ctx, be, log, 0, now)
}

// migrateTo is migrate stopping at version upTo (all when 0): tests build
// a database as an older binary left it.
func migrateTo(ctx context.Context, be backend, log zerolog.Logger, upTo int, now time.Time) error {
	ms, err := loadMigrations(be.migrations())
	if err != nil {
		return err
	}
	known := len(ms)
	if upTo > 0 && upTo < len(ms) {
		ms = ms[:upTo]
	}
	return be.inTx(ctx, func(q querier) error {
		if err := be.lockMigrations(ctx, q); err != nil {
			return fmt.Errorf("store: lock migrations: %w", err)
		}
		if _, err := q.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
			version    INTEGER PRIMARY KEY,
			applied_us BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("store: create schema_version: %w", err)
		}
		var current int
		if err := q.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current); err != nil {
			return fmt.Errorf("store: read schema version: %w", err)
		}
		if current > known {
			return fmt.Errorf("%w: database is at version %d, this binary knows up to %d; run a newer dolbomd",
				ErrSchemaTooNew, current, known)
		}
		for _, m := range ms[min(current, len(ms)):] {
			if _, err := q.exec(ctx, m.sql); err != nil {
				return fmt.Errorf("store: migration %s: %w", m.name, err)
			}
			if step := migrationSteps[m.version]; step != nil {
				if err := step(ctx, q, be, log, now); err != nil {
					return fmt.Errorf("store: migration %s: %w", m.name, err)
				}
			}
			if _, err := q.exec(ctx, `INSERT INTO schema_version (version, applied_us) VALUES ($1, $2)`,
				m.version, toUS(time.Now())); err != nil {
				return fmt.Errorf("store: record migration %s: %w", m.name, err)
			}
			log.Info().Str("backend", be.name()).Int("version", m.version).Str("migration", m.name).Msg("migration applied")
		}
		return nil
	})
}

// SchemaVersion is the newest schema version this binary knows.
func SchemaVersion() int {
	ms, err := loadMigrations(mustSub("migrations/sqlite"))
	if err != nil {
		panic(err)
	}
	return len(ms)
}

func mustSub(dir string) fs.FS {
	sub, err := fs.Sub(migrationFiles, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
