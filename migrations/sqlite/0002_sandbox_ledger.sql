-- The built-in sandbox payment provider's own ledger: what an external provider would keep.
-- Authorizations are idempotent on `idempotency` (the caller's key); `captures` counts capture
-- calls that moved money, so tests can prove a retried booking is charged once.
CREATE TABLE sandbox_ledger (
    transaction_id TEXT PRIMARY KEY,
    idempotency    TEXT NOT NULL CONSTRAINT sandbox_ledger_idempotency_unique UNIQUE,
    amount_minor   BIGINT NOT NULL,
    currency       TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('authorized', 'captured', 'voided', 'refunded')),
    captures       INT NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
