-- Scoping of accounts by region (console/scope.go, docs/operations.md):
-- a JSON array of region codes (2-digit 시도, 5-digit 시군구). Every
-- existing account gets none: national, as it was.
ALTER TABLE accounts ADD COLUMN regions TEXT NOT NULL DEFAULT '[]';
