package store

import (
	"context"
	"testing"
)

// The flush's multi-row inserts never abort a statement alone (SQLite's
// OR ABORT, the default): a statement that may (a NOT NULL check halting
// with OE_Abort) makes SQLite keep a statement journal, a copy of every
// page the statement changes (16% of the readings writer's CPU under the
// flood). Read from SQLite's own plan: EXPLAIN lists each check's Halt or
// HaltIfNull with its conflict resolution in P2 (OE_Abort = 2).
func TestFlushInsertsNeedNoStatementJournal(t *testing.T) {
	s := openEmbedded(t, Config{})
	b := s.rd.(*sqliteBackend)
	mayAbort := func(prefix string, width int) bool {
		t.Helper()
		rows, err := b.db.QueryContext(context.Background(), `EXPLAIN `+prefix+anonPlaceholders(2, width), make([]any, 2*width)...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		found := false
		for rows.Next() {
			var addr, p1, p2, p3, p5 int64
			var opcode string
			var p4, comment any
			if err := rows.Scan(&addr, &opcode, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
				t.Fatal(err)
			}
			if (opcode == "HaltIfNull" || opcode == "Halt") && p1 != 0 && p2 == 2 {
				found = true
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return found
	}
	// The check itself: SQLite's default does abort statements.
	if !mayAbort(`INSERT INTO reading_batches (hub_id, from_us, to_us, n, received_us, data) VALUES `, 6) {
		t.Fatal("a plain INSERT shows no statement abort: the check reads the plan wrong")
	}
	for name, prefix := range map[string]string{"reading_batches": sqliteInsertBatches, "accel": sqliteInsertAccel} {
		if mayAbort(prefix, 6) {
			t.Errorf("the flush's INSERT into %s may abort a statement alone: SQLite keeps a statement journal for it", name)
		}
	}
}
