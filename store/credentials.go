package store

import (
	"context"

	"github.com/dolbom/dolbom/devices"
)

// credentialBatcher shares the credential lookups of a connect wave
// (hubBatcher). A hub that is not registered is devices.ErrNotFound.
type credentialBatcher = hubBatcher[devices.HubCredential]

// credentialQueries is batchQueries, named for the credential tests.
const credentialQueries = batchQueries

func newCredentialBatcher(lookup func(ctx context.Context, ids []string) (map[devices.HubID]devices.HubCredential, error)) credentialBatcher {
	return credentialBatcher{
		what:   "hub credential",
		lookup: lookup,
		blank:  func(hub devices.HubID) devices.HubCredential { return devices.HubCredential{Hub: hub} },
	}
}

// hubCredentials reads the credentials of ids in one query (missing ids
// are absent from the map).
func (s *database) hubCredentials(ctx context.Context, ids []string) (map[devices.HubID]devices.HubCredential, error) {
	var (
		q    string
		args []any
	)
	if s.isPostgres() {
		q, args = `SELECT id, secret_hash, disabled FROM hubs WHERE id = ANY($1)`, []any{ids}
	} else {
		q = `SELECT id, secret_hash, disabled FROM hubs WHERE id IN ` + anonPlaceholders(1, len(ids))
		args = make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
	}
	rs, err := s.be.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	out := make(map[devices.HubID]devices.HubCredential, len(ids))
	for rs.Next() {
		var c devices.HubCredential
		var id string
		if err := rs.Scan(&id, &c.SecretHash, &c.Disabled); err != nil {
			return nil, err
		}
		c.Hub = devices.HubID(id)
		out[c.Hub] = c
	}
	return out, rs.Err()
}
