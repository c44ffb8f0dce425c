package store

import (
	"context"
	"fmt"

	"github.com/dolbom/dolbom/cluster"
)

// AgreeSettings checks the settings every gateway of the database must
// share (cluster.Setting: the secret key's check value, token digests, the
// CAP sender, the public URL). A setting seen for the first time is
// recorded as node's; one recorded already must have the same digest, and
// the first that differs is returned as a *cluster.SettingMismatchError
// naming who recorded it and when, so that dolbomd refuses to start with a
// message that says what to fix. A cluster whose nodes disagree would
// sign CAP alerts under two identifiers for one incident, or refuse the
// other nodes' tokens.
func (c Cluster) AgreeSettings(ctx context.Context, node string, settings []cluster.Setting) error {
	if err := c.need("check the shared settings"); err != nil {
		return err
	}
	for _, st := range settings {
		if st.Name == "" || st.Digest == "" {
			return invalid("a shared setting needs a name and a digest, got %q = %q", st.Name, st.Digest)
		}
	}
	var mismatch *cluster.SettingMismatchError
	err := c.be.inTx(ctx, func(q querier) error {
		mismatch = nil
		for _, st := range settings {
			var digest, setBy string
			var setUS int64
			// The insert either records the setting or leaves the row of
			// the node that was first; the read then sees that row.
			if _, err := q.exec(ctx, `INSERT INTO cluster_settings (name, digest, set_by, set_us)
				VALUES ($1, $2, $3, `+dbNowUS+`) ON CONFLICT (name) DO NOTHING`, st.Name, st.Digest, node); err != nil {
				return err
			}
			if err := q.queryRow(ctx, `SELECT digest, set_by, set_us FROM cluster_settings WHERE name = $1`, st.Name).
				Scan(&digest, &setBy, &setUS); err != nil {
				return err
			}
			if digest != st.Digest && mismatch == nil {
				mismatch = &cluster.SettingMismatchError{Name: st.Name, SetBy: setBy, SetAt: fromUS(setUS)}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: check the shared settings: %w", err)
	}
	if mismatch != nil {
		return fmt.Errorf("store: %w", mismatch)
	}
	return nil
}

// ResetSetting forgets a shared setting, so that the next node to start
// records its own (after the operator changed it on every node).
func (c Cluster) ResetSetting(ctx context.Context, name string) error {
	if err := c.need("reset a shared setting"); err != nil {
		return err
	}
	if _, err := c.be.exec(ctx, `DELETE FROM cluster_settings WHERE name = $1`, name); err != nil {
		return fmt.Errorf("store: reset shared setting %s: %w", name, err)
	}
	return nil
}
