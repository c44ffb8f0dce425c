SET LOCAL synchronous_commit = off
;
INSERT INTO home_state (hub_id, data, updated_us) VALUES ($1,$2,$3),($4,$5,$6) ON CONFLICT (hub_id) DO UPDATE SET data = excluded.data, updated_us = excluded.updated_us
;
SET LOCAL synchronous_commit = off
;
INSERT INTO hub_health (hub_id, data, updated_us) VALUES ($1,$2,$3) ON CONFLICT (hub_id) DO UPDATE SET data = excluded.data, updated_us = excluded.updated_us
;
SELECT data, change_seq FROM incidents WHERE fingerprint = $1 FOR UPDATE
;
SELECT i.data, i.change_seq FROM incident_aliases a
		JOIN incidents i ON i.id = a.incident_id WHERE a.fingerprint = $1 FOR UPDATE OF i
;
SELECT data, change_seq FROM incidents
		WHERE hub_id = $1 AND state NOT IN ('resolved', 'cancelled') ORDER BY opened_us, id FOR UPDATE
;
INSERT INTO incidents (id, fingerprint, hub_id, resident_id, cause, priority, state,
				opened_us, updated_us, change_seq, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, nextval('incident_change_seq'), $10)
				RETURNING change_seq
;
INSERT INTO dispatch_outbox (row_key, incident_id, kind, channel, state, priority,
			due_us, deadline_us, created_us, updated_us, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10), ($11, $12, $13, $14, $15, $16, $17, $18, $19, $19, $20) ON CONFLICT (row_key) DO NOTHING
;
SELECT pg_notify('dolbom_outbox', '')
;
SELECT pg_notify('dolbom_incidents', $1)
;
UPDATE dispatch_outbox SET state = 'sending', claim_id = $2, claimed_until_us = $3,
			tries = tries + 1, updated_us = $1, recovered = CASE WHEN state = 'sending' THEN 1 ELSE 0 END
			WHERE row_key IN (SELECT row_key FROM dispatch_outbox WHERE state = 'sending' AND claimed_until_us <= $1
				ORDER BY priority, due_us LIMIT $4 FOR UPDATE SKIP LOCKED)
			RETURNING row_key, incident_id, kind, channel, state, priority, due_us, deadline_us, tries, provider_ref,
	claim_id, recovered, last_error, created_us, updated_us, data
;
UPDATE dispatch_outbox SET state = 'sending', claim_id = $2, claimed_until_us = $3,
			tries = tries + 1, updated_us = $1, recovered = CASE WHEN state = 'sending' THEN 1 ELSE 0 END
			WHERE row_key IN (SELECT row_key FROM dispatch_outbox WHERE state = 'pending' AND due_us <= $1
				ORDER BY priority, due_us LIMIT $4 FOR UPDATE SKIP LOCKED)
			RETURNING row_key, incident_id, kind, channel, state, priority, due_us, deadline_us, tries, provider_ref,
	claim_id, recovered, last_error, created_us, updated_us, data
;
SELECT data, change_seq FROM incidents WHERE fingerprint = $1 FOR UPDATE
;
UPDATE incidents SET fingerprint = $2, hub_id = $3, resident_id = $4, cause = $5,
				priority = $6, state = $7, opened_us = $8, updated_us = $9, change_seq = nextval('incident_change_seq'), data = $10
				WHERE id = $1 RETURNING change_seq
;
SELECT pg_notify('dolbom_incidents', $1)
;
UPDATE dispatch_outbox SET state = 'sending', claim_id = $2, claimed_until_us = $3,
			tries = tries + 1, updated_us = $1, recovered = CASE WHEN state = 'sending' THEN 1 ELSE 0 END
			WHERE row_key IN (SELECT row_key FROM dispatch_outbox WHERE state = 'sending' AND claimed_until_us <= $1
				ORDER BY priority, due_us LIMIT $4 FOR UPDATE SKIP LOCKED)
			RETURNING row_key, incident_id, kind, channel, state, priority, due_us, deadline_us, tries, provider_ref,
	claim_id, recovered, last_error, created_us, updated_us, data
;
UPDATE dispatch_outbox SET state = 'sending', claim_id = $2, claimed_until_us = $3,
			tries = tries + 1, updated_us = $1, recovered = CASE WHEN state = 'sending' THEN 1 ELSE 0 END
			WHERE row_key IN (SELECT row_key FROM dispatch_outbox WHERE state = 'pending' AND due_us <= $1
				ORDER BY priority, due_us LIMIT $4 FOR UPDATE SKIP LOCKED)
			RETURNING row_key, incident_id, kind, channel, state, priority, due_us, deadline_us, tries, provider_ref,
	claim_id, recovered, last_error, created_us, updated_us, data
;
INSERT INTO events
		(hub_id, event_id, kind, sensor_id, ts_us, received_us, value, has_value, detail)
		SELECT h, i, k, s, t, r, v, hv, d::jsonb
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],
		            $7::float8[], $8::bool[], $9::text[]) AS u(h, i, k, s, t, r, v, hv, d)
		ON CONFLICT (hub_id, event_id) DO NOTHING
		RETURNING hub_id, event_id, seq
