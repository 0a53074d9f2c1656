-- A print in progress: the reprint decision is taken and the labels claimed in one short transaction, the labels
-- are sent outside any transaction, and the claim is closed (printed, or failed) in another. One open claim per
-- label, so two benches cannot both print a label for the first time. A claim is closed once, never deleted.
CREATE TABLE label_claims (
    id         INTEGER PRIMARY KEY,
    entity_id  TEXT NOT NULL,
    target     TEXT NOT NULL,
    reprint    INTEGER NOT NULL CHECK (reprint IN (0, 1)),
    claimed_at TEXT NOT NULL,
    outcome    TEXT CHECK (outcome IS NULL OR length(trim(outcome)) > 0),
    closed_at  TEXT,
    CHECK ((outcome IS NULL) = (closed_at IS NULL))
) STRICT;
CREATE UNIQUE INDEX label_claims_open ON label_claims (entity_id) WHERE closed_at IS NULL;
CREATE TRIGGER label_claims_no_delete BEFORE DELETE ON label_claims BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER label_claims_closed_once BEFORE UPDATE ON label_claims WHEN OLD.closed_at IS NOT NULL BEGIN SELECT RAISE(ABORT, 'a closed claim is never changed'); END;
