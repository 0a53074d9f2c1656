-- A recall of a donor defers the donor until a quality manager lifts it: such a deferral is open-ended
-- (permanent = 1 in this table) and names its recall; the lift is a record of its own, never an edit.
ALTER TABLE deferrals ADD COLUMN recall_id INTEGER REFERENCES recalls (id);
CREATE TABLE deferral_lifts (
    id          INTEGER PRIMARY KEY,
    deferral_id INTEGER NOT NULL UNIQUE REFERENCES deferrals (id),
    lifted_on   TEXT NOT NULL CHECK (date(lifted_on) IS lifted_on),
    reason      TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    recorded_at TEXT NOT NULL
) STRICT;
CREATE TRIGGER deferral_lifts_no_delete BEFORE DELETE ON deferral_lifts BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
-- One donation per donor and collection moment: a second entry of the same donation is refused.
DROP INDEX donations_donor;
CREATE UNIQUE INDEX donations_donor ON donations (donor_id, collected_at);
-- A recipient to contact about a recall: a unit dispensed before the recall, but recorded after it.
CREATE TABLE recall_contacts (
    id           INTEGER PRIMARY KEY,
    recall_id    INTEGER NOT NULL REFERENCES recalls (id),
    recipient_id TEXT NOT NULL REFERENCES recipients (id),
    unit_id      TEXT NOT NULL REFERENCES units (id),
    reason       TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    recorded_at  TEXT NOT NULL
) STRICT;
CREATE INDEX recall_contacts_recipient ON recall_contacts (recipient_id);
CREATE TRIGGER recall_contacts_no_delete BEFORE DELETE ON recall_contacts BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
