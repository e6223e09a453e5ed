-- +goose Up
-- A large file streamed through the REST API or STOW-RS is written once, to
-- a key of its own (orgs/{org}/objects/{uuid}), and becomes its file's
-- object there when it commits: no copy to its content address (intake,
-- commit.go: adopt). Each such object is noted here before its bytes are
-- written and forgotten in the transaction that adopts it, so an object
-- whose upload never committed (refused, or the process died) is found by
-- the sweep without listing the bucket.
CREATE TABLE staged_objects (
    key        text PRIMARY KEY,
    org_id     uuid NOT NULL REFERENCES orgs (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staged_objects_created_idx ON staged_objects (created_at);

-- +goose Down
DROP TABLE staged_objects;
