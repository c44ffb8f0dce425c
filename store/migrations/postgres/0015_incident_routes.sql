-- The 119 centre of each incident (dispatch/cap.RoutePins): the 시도 its
-- first CAP message (the Alert) was routed to, so that its Updates and
-- Cancel reach the same centre even after the resident moved; the
-- endpoints of that moment are kept for the record.
CREATE TABLE incident_routes (
    incident_id TEXT PRIMARY KEY,
    sido        TEXT NOT NULL,
    endpoints   TEXT NOT NULL,
    routed_us   BIGINT NOT NULL
);
CREATE INDEX incident_routes_sido ON incident_routes (sido);
