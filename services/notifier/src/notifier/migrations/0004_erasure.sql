-- Issue 21: merchants erased here on MerchantErased (shared.erasure, docs/erasure.md). No personal datum: who asked
-- and why stay in the registry's merchant_erasures; here, the event, its time and how many rows each step removed.
-- A redelivered MerchantErased finds its inbox claim and changes nothing.
CREATE TABLE merchant_erasures (
    merchant_id text        PRIMARY KEY,
    event_id    uuid        NOT NULL,          -- the MerchantErased's CloudEvents id
    erased_at   timestamptz NOT NULL,          -- the event's time: when the erasure was asked for
    counts      jsonb       NOT NULL           -- rows deleted or anonymised, per step
);
