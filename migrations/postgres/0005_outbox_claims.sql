-- A relay claims a batch of outbox rows for a short lease instead of holding a transaction open
-- while it publishes; another node takes a row over only once its lease has expired.
ALTER TABLE outbox ADD COLUMN claimed_until TIMESTAMPTZ;
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
