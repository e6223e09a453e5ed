-- Routing rules, reading group service levels, and the columns the
-- worklist needs on cases.

-- +goose Up
CREATE TABLE reading_group_settings (
    org_id              uuid PRIMARY KEY REFERENCES orgs (id),
    sla_stat            interval NOT NULL DEFAULT '1 hour' CHECK (sla_stat > interval '0'),
    sla_urgent          interval NOT NULL DEFAULT '4 hours' CHECK (sla_urgent > interval '0'),
    sla_routine         interval NOT NULL DEFAULT '48 hours' CHECK (sla_routine > interval '0'),
    claim_lease         interval NOT NULL DEFAULT '30 minutes' CHECK (claim_lease >= interval '1 minute'),
    require_second_read boolean NOT NULL DEFAULT false,
    critical_ack_within interval NOT NULL DEFAULT '1 hour' CHECK (critical_ack_within > interval '0'),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE routing_rules (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    position         int NOT NULL DEFAULT 100,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    specialty        text NOT NULL CHECK (specialty IN ('dermatology', 'radiology')),
    modality         text,
    body_site        text,
    site_org_id      uuid REFERENCES orgs (id),
    reading_group_id uuid NOT NULL REFERENCES orgs (id),
    is_default       boolean NOT NULL DEFAULT false,
    enabled          boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (NOT is_default OR (modality IS NULL AND body_site IS NULL AND site_org_id IS NULL))
);
-- One default per specialty.
CREATE UNIQUE INDEX routing_rules_default_key ON routing_rules (specialty) WHERE is_default AND enabled;
CREATE INDEX routing_rules_order_idx ON routing_rules (specialty, position, created_at) WHERE enabled;

ALTER TABLE cases
    ADD COLUMN priority_rank smallint GENERATED ALWAYS AS (
        CASE priority WHEN 'stat' THEN 0 WHEN 'urgent' THEN 1 ELSE 2 END) STORED,
    ADD COLUMN routed_at          timestamptz,
    ADD COLUMN routing_rule_id    uuid REFERENCES routing_rules (id) ON DELETE SET NULL,
    ADD COLUMN unrouted_reason    text,
    ADD COLUMN claimed_at         timestamptz,
    ADD COLUMN claim_expires_at   timestamptz,
    ADD COLUMN last_specialist_id uuid REFERENCES users (id),
    ADD COLUMN info_request       text,
    ADD COLUMN overdue_flagged_at timestamptz;

-- The worklist: a reading group's open cases by priority then due time.
CREATE INDEX cases_worklist_idx ON cases (reading_group_id, priority_rank, due_at, id)
    WHERE status IN ('routed', 'in_review');
CREATE INDEX cases_unrouted_idx ON cases (submitted_at) WHERE status = 'submitted' AND unrouted_reason IS NOT NULL;
CREATE INDEX cases_lease_idx ON cases (claim_expires_at) WHERE status = 'in_review';

-- +goose Down
DROP INDEX cases_lease_idx;
DROP INDEX cases_unrouted_idx;
DROP INDEX cases_worklist_idx;
ALTER TABLE cases
    DROP COLUMN overdue_flagged_at, DROP COLUMN info_request, DROP COLUMN last_specialist_id,
    DROP COLUMN claim_expires_at, DROP COLUMN claimed_at, DROP COLUMN unrouted_reason,
    DROP COLUMN routing_rule_id, DROP COLUMN routed_at, DROP COLUMN priority_rank;
DROP TABLE routing_rules;
DROP TABLE reading_group_settings;
