-- +goose Up
-- The admin page of a webhook lists its deliveries newest first, a page
-- at a time (delivery.sql: DeliveriesOfWebhook).
CREATE INDEX deliveries_webhook_idx ON deliveries (webhook_id, created_at DESC, id DESC) WHERE webhook_id IS NOT NULL;

-- +goose Down
DROP INDEX deliveries_webhook_idx;
