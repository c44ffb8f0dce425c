-- Reports walk a period's incidents in opening order a page at a time
-- (store/reports.go): the page after (opened_us, id) is an index range.
CREATE INDEX incidents_opened ON incidents (opened_us, id);
