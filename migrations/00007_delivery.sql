-- Delivery of signed reports back to the site: webhooks per site, one
-- delivery per (report, event, channel, webhook) with its attempts, the
-- referring physician's inbox, acknowledgements, and escalations.

-- +goose Up
CREATE TABLE webhooks (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES orgs (id),
    url         text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    -- The HMAC-SHA256 key, shown once at creation and needed to sign every
    -- delivery; never returned by the API again (see docs/delivery.md).
    secret      text NOT NULL,
    created_by  uuid REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    disabled_at timestamptz,
    disabled_by uuid REFERENCES users (id)
);
CREATE INDEX webhooks_org_idx ON webhooks (org_id, created_at);

-- One row per (report, event, addendum, channel, webhook): the delivery id
-- is stable across retries and replays, so receivers de-duplicate on it.
CREATE TABLE deliveries (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    report_id    uuid NOT NULL REFERENCES reports (id),
    case_id      uuid NOT NULL REFERENCES cases (id),
    site_org_id  uuid NOT NULL REFERENCES orgs (id),
    event        text NOT NULL CHECK (event IN ('report.preliminary', 'report.final', 'report.addendum')),
    addendum_id  uuid REFERENCES report_addenda (id),
    critical     boolean NOT NULL DEFAULT false,
    channel      text NOT NULL CHECK (channel IN ('inbox', 'webhook')),
    webhook_id   uuid REFERENCES webhooks (id),
    status       text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'delivered', 'dead')),
    attempts     int NOT NULL DEFAULT 0,
    last_error   text NOT NULL DEFAULT '',
    -- created_at is when the report was signed (Enqueue runs in the signing
    -- transaction).
    created_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    dead_at      timestamptz,
    replays      int NOT NULL DEFAULT 0,
    CHECK ((channel = 'webhook') = (webhook_id IS NOT NULL)),
    CHECK ((event = 'report.addendum') = (addendum_id IS NOT NULL))
);
CREATE UNIQUE INDEX deliveries_key ON deliveries (report_id, event,
    coalesce(addendum_id, '00000000-0000-0000-0000-000000000000'), channel,
    coalesce(webhook_id, '00000000-0000-0000-0000-000000000000'));
CREATE INDEX deliveries_dead_idx ON deliveries (site_org_id, dead_at DESC) WHERE status = 'dead';
CREATE INDEX deliveries_case_idx ON deliveries (case_id);

CREATE TABLE delivery_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id uuid NOT NULL REFERENCES deliveries (id),
    at          timestamptz NOT NULL DEFAULT now(),
    duration_ms int NOT NULL DEFAULT 0,
    status_code int,
    error       text NOT NULL DEFAULT ''
);
CREATE INDEX delivery_attempts_delivery_idx ON delivery_attempts (delivery_id, id);

-- The referring physician's inbox: one item per report, visible once its
-- inbox delivery has run. status is the report's latest signed state;
-- delivered_at is when that state reached the inbox (the acknowledgement
-- clock), updated_at the latest delivery (an addendum makes it unread).
-- opened_at is the referring physician's first view, last_opened_at the
-- latest: the item is unread while last_opened_at is before updated_at or
-- reminded_at.
CREATE TABLE inbox_items (
    report_id              uuid PRIMARY KEY REFERENCES reports (id),
    case_id                uuid NOT NULL REFERENCES cases (id),
    site_org_id            uuid NOT NULL REFERENCES orgs (id),
    referring_physician_id uuid NOT NULL REFERENCES users (id),
    status                 text NOT NULL CHECK (status IN ('preliminary', 'final')),
    critical               boolean NOT NULL DEFAULT false,
    last_event             text NOT NULL,
    first_delivered_at     timestamptz NOT NULL DEFAULT now(),
    delivered_at           timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    opened_at              timestamptz,
    last_opened_at         timestamptz,
    -- reminded_at is set by the first escalation of an unacknowledged
    -- critical report: the item is unread again and flagged as a reminder.
    reminded_at            timestamptz
);
CREATE INDEX inbox_items_site_idx ON inbox_items (site_org_id, updated_at DESC);
CREATE INDEX inbox_items_referrer_idx ON inbox_items (referring_physician_id, updated_at DESC);

-- Acknowledgements by the referring physician, one per report state: a
-- preliminary and the final report are acknowledged separately.
CREATE TABLE acknowledgements (
    report_id     uuid NOT NULL REFERENCES reports (id),
    report_status text NOT NULL CHECK (report_status IN ('preliminary', 'final')),
    case_id       uuid NOT NULL REFERENCES cases (id),
    user_id       uuid NOT NULL REFERENCES users (id),
    at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (report_id, report_status)
);

-- Escalations of what is late. The partial unique indexes make each level
-- of each subject happen once.
CREATE TABLE escalations (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind           text NOT NULL CHECK (kind IN ('critical_unacknowledged', 'overdue')),
    case_id        uuid NOT NULL REFERENCES cases (id),
    report_id      uuid REFERENCES reports (id),
    report_status  text,
    level          smallint NOT NULL CHECK (level >= 1),
    target_org_id  uuid NOT NULL REFERENCES orgs (id),
    target_role    text NOT NULL CHECK (target_role IN ('referring_physician', 'org_admin')),
    target_user_id uuid REFERENCES users (id),
    details        jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'critical_unacknowledged') = (report_id IS NOT NULL AND report_status IS NOT NULL))
);
CREATE UNIQUE INDEX escalations_critical_key ON escalations (report_id, report_status, level)
    WHERE kind = 'critical_unacknowledged';
CREATE UNIQUE INDEX escalations_overdue_key ON escalations (case_id, level) WHERE kind = 'overdue';
CREATE INDEX escalations_case_idx ON escalations (case_id);
CREATE INDEX escalations_created_idx ON escalations (created_at DESC);

-- +goose Down
DROP TABLE escalations;
DROP TABLE acknowledgements;
DROP TABLE inbox_items;
DROP TABLE delivery_attempts;
DROP TABLE deliveries;
DROP TABLE webhooks;
