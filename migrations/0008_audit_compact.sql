-- Audit entries of format 2 (src/store/audit.rs): the hash as its 32 bytes instead of 64 hex digits, the previous
-- entry's hash not stored again (the chain holds it), rows as compact canonical JSON, rows made together in one
-- entry. Entries of format 1 are copied as they are and verify as before. A STRICT column's type cannot change,
-- so the log is rebuilt: renamed aside, copied into the new table, and the old one (with its indexes and its
-- append-only triggers) dropped.
ALTER TABLE audit_log RENAME TO audit_log_format1;

CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    actor       TEXT NOT NULL CHECK (length(actor) > 0),
    action      TEXT NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    before      TEXT CHECK (before IS NULL OR json_valid(before)),
    after       TEXT CHECK (after IS NULL OR json_valid(after)),
    -- Format 1: the previous entry's hash (hex); format 2: NULL.
    prev_hash   TEXT,
    -- Format 1: 64 hex digits (TEXT); format 2: 32 bytes (BLOB).
    hash        ANY NOT NULL UNIQUE CHECK (typeof(hash) IN ('text', 'blob'))
) STRICT;

INSERT INTO audit_log (seq, at, recorded_at, actor, action, entity, entity_id, subject, before, after, prev_hash, hash)
    SELECT seq, at, recorded_at, actor, action, entity, entity_id, subject, before, after, prev_hash, hash
    FROM audit_log_format1 ORDER BY seq;
DROP TABLE audit_log_format1;

CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);
CREATE INDEX audit_log_subject ON audit_log (subject);
CREATE INDEX audit_log_entity_id ON audit_log (entity_id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- The planner's statistics of the rebuilt indexes.
ANALYZE audit_log;
