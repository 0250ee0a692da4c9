-- Reconciliation looks for payments the normal flow left unsettled; they are few, the table is not.
CREATE INDEX payments_unsettled ON payments (updated_at) WHERE status IN ('authorized', 'refund_pending');
