-- Bearer tokens of the admin and incident API that belong to an account
-- (console/api, docs/api.md): a request made with one sees and acts on
-- what its account sees, read anew on every request (regions, role,
-- disabled). Only a hash of the token is kept, like sessions'.
CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    created_us BIGINT NOT NULL
);
CREATE INDEX api_tokens_account ON api_tokens (account_id);
