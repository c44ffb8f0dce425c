-- 119 routing (docs/operations.md): each 시도 (2-digit code) has its own CAP
-- endpoints and credential (dispatch/cap.Route). endpoints is a JSON array of
-- URLs; the bearer token is sealed like the residents' access codes
-- (AES-256-GCM, the 시도 as associated data), an empty token sealed too.
CREATE TABLE cap_routes (
    sido         TEXT PRIMARY KEY,
    endpoints    TEXT NOT NULL,
    token_sealed BYTEA NOT NULL,
    updated_us   BIGINT NOT NULL
);
