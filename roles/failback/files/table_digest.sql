-- Per table of the database: row count and an order-independent checksum of its rows (md5 of the sorted
-- md5s of each row as text). Read-only; runs on a primary and on a hot standby alike.
SELECT n.nspname || '.' || c.relname AS tbl,
 (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text AS nrows,
 (xpath('/row/h/text()', query_to_xml(format('SELECT md5(coalesce(string_agg(m, '','' ORDER BY m), '''')) AS h FROM (SELECT md5(t::text) AS m FROM %I.%I t) s', n.nspname, c.relname), false, true, '')))[1]::text AS digest
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
ORDER BY 1
