-- The audit trail: one row per validation attempt that passed the format check. Never the key itself:
-- key_fingerprint is HMAC-SHA256(KEY_VALIDATOR_KEY_FINGERPRINT_SECRET, key), and the secret is not stored here.
CREATE TABLE validation_attempts (
    validation_id   uuid        PRIMARY KEY,
    merchant_id     text        NOT NULL,
    user_id         text        NOT NULL,
    client_address  inet        NOT NULL,
    key_fingerprint text        NOT NULL CHECK (key_fingerprint ~ '^[0-9a-f]{64}$'),
    key_id          text,
    outcome         text        NOT NULL CHECK (outcome IN (
        'validated', 'unknown_key', 'key_revoked', 'key_for_other_service', 'key_of_other_merchant',
        'licence_not_pro_plus', 'too_many_attempts', 'cloudpos_unavailable')),
    attempted_at    timestamptz NOT NULL
);
CREATE INDEX validation_attempts_by_merchant ON validation_attempts (merchant_id, attempted_at);
CREATE INDEX validation_attempts_by_client ON validation_attempts (client_address, attempted_at);
CREATE INDEX validation_attempts_by_fingerprint ON validation_attempts (key_fingerprint);
