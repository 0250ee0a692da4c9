-- After a booking: emails already sent (so a redelivered event sends nothing twice) and
-- organiser webhooks with their deliveries.
CREATE TABLE emails_sent (
    booking_id BIGINT NOT NULL REFERENCES bookings (booking_id),
    kind       TEXT NOT NULL CHECK (kind IN ('confirmation', 'cancellation')),
    recipient  TEXT NOT NULL,
    sent_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (booking_id, kind)
);

CREATE TABLE webhooks (
    webhook_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id   BIGINT NOT NULL REFERENCES events (event_id),
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhooks_event ON webhooks (event_id);

CREATE TABLE webhook_deliveries (
    webhook_id      BIGINT NOT NULL REFERENCES webhooks (webhook_id) ON DELETE CASCADE,
    outbox_id       BIGINT NOT NULL,
    topic           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error      TEXT,
    delivered_at    TIMESTAMPTZ,
    PRIMARY KEY (webhook_id, outbox_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
