-- One emergency, one incident: dispatch folds a new episode of a home (a
-- confirmed fire after smoke, an SOS after a fall) into that home's open
-- incident. Each folded episode's fingerprint is kept here as an alias of
-- the incident it joined, so that its later detections, and a replay after
-- a crash, find the same incident, even once it is closed.
CREATE TABLE incident_aliases (
    fingerprint TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL,
    created_us  BIGINT NOT NULL
);
CREATE INDEX incident_aliases_incident ON incident_aliases (incident_id);
-- A new episode looks for its home's open incidents.
CREATE INDEX incidents_hub_open ON incidents (hub_id, opened_us) WHERE state NOT IN ('resolved', 'cancelled');
