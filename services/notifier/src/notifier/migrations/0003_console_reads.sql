-- The helpdesk console reads what was sent through /v1 (the registry keeps no copy): a merchant's deliveries
-- (newest first) and the per-merchant counts of /v1/merchants/notices for a page of merchants; the parked queue,
-- oldest parked first, page by page, with its total.
CREATE INDEX helpdesk_deliveries_by_merchant ON helpdesk_deliveries (merchant_id, created_at, delivery_id);
CREATE INDEX helpdesk_deliveries_parked ON helpdesk_deliveries (parked_at, delivery_id) WHERE status = 'parked';
