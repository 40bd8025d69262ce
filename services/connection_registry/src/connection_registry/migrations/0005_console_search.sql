-- The helpdesk console's search and "started but not finished" queue, cheap at tens of thousands of merchants.
-- pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- One row per merchant with every name staff search by (the merchant's, its stores', its organisations'),
-- lower-cased, separated by chr(31) (the unit separator: no name contains it, so no match spans two names),
-- and the merchant's name for the search's order. Kept by triggers on the three tables, so every writer (the
-- handlers, the rebuild, a COPY) keeps it right. Why not search the three tables: a common word ("ltd", "e")
-- matches most of 70,000 names, and uniting and de-duplicating those cost 60-200 ms at 10,000 merchants; one
-- row per merchant costs a few.
CREATE TABLE merchant_search (
    merchant_id text PRIMARY KEY REFERENCES merchants ON DELETE CASCADE,
    sort_name   text COLLATE "C" NOT NULL,   -- lower(name): byte order whatever the database's locale
    name        text COLLATE "C" NOT NULL,
    names       text NOT NULL
);
-- Substring (LIKE '%text%') and merchant id prefix (ILIKE 'text%') with the pattern known only at execution time
-- (prepared statements), which a btree prefix index does not serve. fastupdate off: otherwise new rows wait in
-- the index's pending list (up to 4 MB) until a vacuum and every search reads that list through (measured at
-- 10,000 merchants: 1.5 ms became 57 ms); a merchant's names change a few times in its life.
CREATE INDEX merchant_search_names ON merchant_search USING gin (names gin_trgm_ops) WITH (fastupdate = off);
CREATE INDEX merchant_search_id ON merchant_search USING gin (merchant_id gin_trgm_ops) WITH (fastupdate = off);

CREATE VIEW merchant_search_source AS
SELECT m.merchant_id, lower(m.name) AS sort_name, m.name,
       lower(concat_ws(chr(31), m.name,
                       (SELECT string_agg(s.name, chr(31) ORDER BY s.store_id) FROM stores s
                         WHERE s.merchant_id = m.merchant_id),
                       (SELECT string_agg(o.name, chr(31) ORDER BY o.tenant_id) FROM organisations o
                         WHERE o.merchant_id = m.merchant_id))) AS names
  FROM merchants m;

-- New and deleted rows: once per statement, for every merchant it touched (a COPY of 30,000 stores recomputes
-- 10,000 merchants in one go, not 30,000 times one).
CREATE FUNCTION merchant_search_refresh_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO merchant_search (merchant_id, sort_name, name, names)
    SELECT merchant_id, sort_name, name, names FROM merchant_search_source
     WHERE merchant_id IN (SELECT merchant_id FROM changed)
    ON CONFLICT (merchant_id) DO UPDATE
       SET sort_name = excluded.sort_name, name = excluded.name, names = excluded.names;
    RETURN NULL;
END $$;
CREATE TRIGGER merchant_search_merchants AFTER INSERT ON merchants REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION merchant_search_refresh_changed();
CREATE TRIGGER merchant_search_stores AFTER INSERT ON stores REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION merchant_search_refresh_changed();
CREATE TRIGGER merchant_search_stores_deleted AFTER DELETE ON stores REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION merchant_search_refresh_changed();
CREATE TRIGGER merchant_search_organisations AFTER INSERT ON organisations REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION merchant_search_refresh_changed();
CREATE TRIGGER merchant_search_organisations_deleted AFTER DELETE ON organisations REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION merchant_search_refresh_changed();

-- Renames, row by row: the writers upsert whole rows, so only a name that really changed recomputes anything.
CREATE FUNCTION merchant_search_refresh_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO merchant_search (merchant_id, sort_name, name, names)
    SELECT merchant_id, sort_name, name, names FROM merchant_search_source WHERE merchant_id = NEW.merchant_id
    ON CONFLICT (merchant_id) DO UPDATE
       SET sort_name = excluded.sort_name, name = excluded.name, names = excluded.names;
    RETURN NULL;
END $$;
CREATE TRIGGER merchant_search_merchants_renamed AFTER UPDATE OF name ON merchants
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION merchant_search_refresh_renamed();
CREATE TRIGGER merchant_search_stores_renamed AFTER UPDATE OF name ON stores
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION merchant_search_refresh_renamed();
CREATE TRIGGER merchant_search_organisations_renamed AFTER UPDATE OF name ON organisations
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION merchant_search_refresh_renamed();
INSERT INTO merchant_search (merchant_id, sort_name, name, names)
SELECT merchant_id, sort_name, name, names FROM merchant_search_source;

-- A Xero organisation id, whole or a prefix of its text form (searched as a range of uuids).
CREATE INDEX organisations_by_tenant ON organisations (tenant_id);

-- Merchants who have not said "I have finished" (few next to the finished ones): the unfinished queue starts
-- here, then reads their connected stores through this covering index.
CREATE INDEX merchants_unfinished ON merchants (merchant_id) WHERE completion_event_id IS NULL;
CREATE INDEX stores_connected_since ON stores (merchant_id, connected_at) WHERE state = 'connected';
