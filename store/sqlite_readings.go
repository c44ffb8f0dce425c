package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
)

// splitReadings moves readingsTables out of dolbom.db into readings.db:
// once, for a database an older binary wrote (the migrations, numbered
// for both back ends, still create these tables in dolbom.db; a fresh one
// moves them empty). The tables are created in readings.db from the
// schema dolbom.db holds, their rows copied and the copy recorded in
// readings.db in one transaction, then dropped from dolbom.db in another.
// Two files cannot commit together in WAL mode, so a crash between the two
// leaves the rows in both; the record (readings_moved) then says the copy
// is done, and the next start only drops. Migrations after this point must
// not touch readingsTables in dolbom.db.
func (b *sqliteBackend) splitReadings(ctx context.Context, log zerolog.Logger) error {
	if b.rd == nil {
		return nil
	}
	in := make([]string, len(readingsTables))
	args := make([]any, len(readingsTables))
	for i, t := range readingsTables {
		in[i], args[i] = "?", t
	}
	inList := "(" + strings.Join(in, ",") + ")"
	var left []string
	rows, err := b.db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name IN `+inList+` ORDER BY name`, args...)
	if err != nil {
		return fmt.Errorf("store: readings tables: %w", err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("store: readings tables: %w", err)
		}
		left = append(left, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: readings tables: %w", err)
	}
	if len(left) == 0 {
		// Moved already, so readings.db must hold them: a folder whose
		// readings.db was deleted or replaced would otherwise start and
		// fail every flush and readings query.
		var n int
		if err := b.rd.queryRow(ctx, `SELECT COUNT(*) FROM main.sqlite_master WHERE type = 'table' AND name IN `+inList, args...).Scan(&n); err != nil {
			return fmt.Errorf("store: readings tables in %s: %w", ReadingsFile, err)
		}
		if n != len(readingsTables) {
			return fmt.Errorf("store: %w: %s has %d of the %d readings tables and %s none: the readings file of this data folder is missing or not its own",
				devices.ErrInvalid, ReadingsFile, n, len(readingsTables), SQLiteFile)
		}
		return nil
	}
	moved := map[string]int64{}
	err = b.rd.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS readings_moved (
			name TEXT PRIMARY KEY, rows_moved INTEGER NOT NULL)`); err != nil {
			return err
		}
		for _, t := range left {
			var done int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM readings_moved WHERE name = ?`, t).Scan(&done); err != nil {
				return err
			}
			if done > 0 {
				continue // copied before a crash; only the drop is left
			}
			// The table and its indexes as dolbom.db defines them.
			ddl, err := tx.QueryContext(ctx, `SELECT sql FROM core.sqlite_master
				WHERE tbl_name = ? AND sql IS NOT NULL ORDER BY type = 'index', name`, t)
			if err != nil {
				return err
			}
			var stmts []string
			for ddl.Next() {
				var q string
				if err := ddl.Scan(&q); err != nil {
					ddl.Close()
					return err
				}
				stmts = append(stmts, q)
			}
			ddl.Close()
			if err := ddl.Err(); err != nil {
				return err
			}
			for _, q := range stmts {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return fmt.Errorf("create %s in %s: %w", t, ReadingsFile, err)
				}
			}
			res, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO main.%[1]s SELECT * FROM core.%[1]s`, t))
			if err != nil {
				return fmt.Errorf("copy %s: %w", t, err)
			}
			n, _ := res.RowsAffected()
			moved[t] = n
			if _, err := tx.ExecContext(ctx, `INSERT INTO readings_moved (name, rows_moved) VALUES (?, ?)`, t, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		var sqliteErr interface{ Code() int }
		if errors.As(err, &sqliteErr) && sqliteErr.Code()&0xff == 13 { // SQLITE_FULL
			// The one-time move copies every reading before dropping them
			// from dolbom.db (whose pages it only marks free): it needs
			// about twice the readings' size free, once.
			return fmt.Errorf("store: move readings to %s (once, at the first start of this version): the disk is full: "+
				"it needs free space of about twice the readings' size in %s; free space and start again (nothing was lost): %w",
				ReadingsFile, filepath.Dir(b.walPath), err)
		}
		return fmt.Errorf("store: move readings to %s: %w", ReadingsFile, err)
	}
	err = b.tx(ctx, func(tx *sql.Tx) error {
		for _, t := range left {
			if _, err := tx.ExecContext(ctx, `DROP TABLE `+t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: drop moved readings tables: %w", err)
	}
	log.Info().Strs("tables", left).Interface("rows", moved).Str("file", ReadingsFile).Msg("readings moved to their own database file")
	return nil
}
