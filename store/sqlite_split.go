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

// fileMove is a set of tables that live in a file of their own beside
// dolbom.db.
type fileMove struct {
	to     *sqliteBackend
	file   string // the file's name (ReadingsFile, StateFile)
	tables []string
	// marker is the table, in the file, that records each table copied.
	marker string
	// what names the tables in errors and the log ("readings").
	what string
}

// splitFiles moves readingsTables into readings.db and stateTables into
// state.db (moveTables), once each, for a database an older binary wrote.
func (b *sqliteBackend) splitFiles(ctx context.Context, log zerolog.Logger) error {
	for _, m := range []fileMove{
		{to: b.rd, file: ReadingsFile, tables: readingsTables, marker: "readings_moved", what: "readings"},
		{to: b.st, file: StateFile, tables: stateTables, marker: "state_moved", what: "state"},
	} {
		if m.to == nil {
			continue
		}
		if err := b.moveTables(ctx, log, m); err != nil {
			return err
		}
	}
	return nil
}

// moveTables moves m.tables out of dolbom.db into m.to: once, for a
// database an older binary wrote (the migrations, numbered for both back
// ends, still create these tables in dolbom.db; a fresh one moves them
// empty). The tables are created in the file from the schema dolbom.db
// holds, their rows copied and the copy recorded in the file (m.marker) in
// one transaction, then dropped from dolbom.db in another. Two files cannot
// commit together in WAL mode, so a crash between the two leaves the rows
// in both; the record then says the copy is done, and the next start only
// drops. Migrations after this point must not touch the moved tables in
// dolbom.db.
func (b *sqliteBackend) moveTables(ctx context.Context, log zerolog.Logger, m fileMove) error {
	in := make([]string, len(m.tables))
	args := make([]any, len(m.tables))
	for i, t := range m.tables {
		in[i], args[i] = "?", t
	}
	inList := "(" + strings.Join(in, ",") + ")"
	var left []string
	rows, err := b.db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name IN `+inList+` ORDER BY name`, args...)
	if err != nil {
		return fmt.Errorf("store: %s tables: %w", m.what, err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("store: %s tables: %w", m.what, err)
		}
		left = append(left, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: %s tables: %w", m.what, err)
	}
	if len(left) == 0 {
		// Moved already, so the file must hold them: a folder whose file
		// was deleted or replaced would otherwise start as if empty (no
		// readings; no saved state and no journal positions, so that the
		// whole journal is replayed) or fail every write.
		var n int
		if err := m.to.queryRow(ctx, `SELECT COUNT(*) FROM main.sqlite_master WHERE type = 'table' AND name IN `+inList, args...).Scan(&n); err != nil {
			return fmt.Errorf("store: %s tables in %s: %w", m.what, m.file, err)
		}
		if n != len(m.tables) {
			return fmt.Errorf("store: %w: %s has %d of the %d %s tables and %s none: the %s file of this data folder is missing or not its own",
				devices.ErrInvalid, m.file, n, len(m.tables), m.what, SQLiteFile, m.what)
		}
		return nil
	}
	moved := map[string]int64{}
	err = m.to.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+m.marker+` (
			name TEXT PRIMARY KEY, rows_moved INTEGER NOT NULL)`); err != nil {
			return err
		}
		for _, t := range left {
			var done int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+m.marker+` WHERE name = ?`, t).Scan(&done); err != nil {
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
					return fmt.Errorf("create %s in %s: %w", t, m.file, err)
				}
			}
			res, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO main.%[1]s SELECT * FROM core.%[1]s`, t))
			if err != nil {
				return fmt.Errorf("copy %s: %w", t, err)
			}
			n, _ := res.RowsAffected()
			moved[t] = n
			if _, err := tx.ExecContext(ctx, `INSERT INTO `+m.marker+` (name, rows_moved) VALUES (?, ?)`, t, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		var sqliteErr interface{ Code() int }
		if errors.As(err, &sqliteErr) && sqliteErr.Code()&0xff == 13 { // SQLITE_FULL
			// The one-time move copies every row before dropping them
			// from dolbom.db (whose pages it only marks free): it needs
			// about twice the tables' size free, once.
			return fmt.Errorf("store: move the %s tables to %s (once, at the first start of this version): the disk is full: "+
				"it needs free space of about twice their size in %s; free space and start again (nothing was lost): %w",
				m.what, m.file, filepath.Dir(b.walPath), err)
		}
		return fmt.Errorf("store: move the %s tables to %s: %w", m.what, m.file, err)
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
		return fmt.Errorf("store: drop the moved %s tables: %w", m.what, err)
	}
	log.Info().Strs("tables", left).Interface("rows", moved).Str("file", m.file).Msg(m.what + " tables moved to their own database file")
	return nil
}
