-- Issue 22: a batch's transaction (adapters/batch_writes.py) writes merchants, stores and organisations in one
-- statement each, and each statement's trigger recomputed the search rows of every merchant it touched: a new
-- merchant's row was written twice (merchants, then stores), and with it every trigram of its names in the
-- index (measured: two thirds of a batch's database time). Such a writer now names the transaction in a
-- transaction-local setting, the triggers leave the rows to it, and it refreshes each touched merchant's row
-- once, with `merchant_search_refresh(ids)`, before it clears the setting. Every other writer is unchanged.
CREATE FUNCTION merchant_search_refresh(merchant_ids text[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO merchant_search (merchant_id, sort_name, name, names)
    SELECT merchant_id, sort_name, name, names FROM merchant_search_source WHERE merchant_id = ANY (merchant_ids)
    ON CONFLICT (merchant_id) DO UPDATE
       SET sort_name = excluded.sort_name, name = excluded.name, names = excluded.names
     WHERE (merchant_search.sort_name, merchant_search.name, merchant_search.names)
           IS DISTINCT FROM (excluded.sort_name, excluded.name, excluded.names);
$$;

CREATE OR REPLACE FUNCTION merchant_search_refresh_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('connection_registry.search_refreshed_by_writer', true) = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM merchant_search_refresh(ARRAY(SELECT DISTINCT merchant_id FROM changed));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION merchant_search_refresh_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('connection_registry.search_refreshed_by_writer', true) = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM merchant_search_refresh(ARRAY[NEW.merchant_id]);
    RETURN NULL;
END $$;

-- And the trigram indexes take new entries in a SMALL pending list (256 kB), merged into the tree in sorted runs,
-- instead of one tree descent per trigram (0005 turned the list off because its default size, 4 MB, made every
-- search read up to 10,000 merchants' entries: 57 ms). Measured on 500 new merchants per batch: the refresh went
-- from 115 ms to 28 ms; a search reading a full 256 kB list took 0.8 ms instead of 0.3 ms.
ALTER INDEX merchant_search_names SET (fastupdate = on, gin_pending_list_limit = 256);
ALTER INDEX merchant_search_id SET (fastupdate = on, gin_pending_list_limit = 256);
