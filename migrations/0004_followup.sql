-- Follow-up after the transplant: the study's record of each recipient, visits at 3 months, 1 and 5 years
-- after the first FMT of a course, and adverse events. Courses, windows and eligibility are computed from these
-- and the dispenses (policy), never stored. Nothing is deleted; a correction is a new row naming the one it
-- supersedes (study records: the latest row of a recipient is in force).

CREATE TABLE study_records (
    id               INTEGER PRIMARY KEY,
    recipient_id     TEXT NOT NULL REFERENCES recipients (id),
    diagnosis_date   TEXT CHECK (diagnosis_date IS NULL OR date(diagnosis_date) IS diagnosis_date),
    prior_therapies  TEXT,
    exclusion        TEXT CHECK (exclusion IS NULL OR exclusion IN ('incomplete-data', 'severe-complication')),
    exclusion_reason TEXT CHECK (exclusion_reason IS NULL OR length(trim(exclusion_reason)) > 0),
    at               TEXT NOT NULL,
    recorded_at      TEXT NOT NULL,
    CHECK ((exclusion IS NULL) = (exclusion_reason IS NULL))
) STRICT;
CREATE INDEX study_records_recipient ON study_records (recipient_id);

CREATE TABLE followups (
    id           INTEGER PRIMARY KEY,
    recipient_id TEXT NOT NULL REFERENCES recipients (id),
    course_id    INTEGER NOT NULL REFERENCES dispenses (id),
    timepoint    TEXT NOT NULL CHECK (timepoint IN ('3m', '1y', '5y')),
    date         TEXT NOT NULL CHECK (date(date) IS date),
    outcome      TEXT NOT NULL CHECK (outcome IN ('remission', 'response', 'no-response', 'relapse', 'lost')),
    scores       TEXT NOT NULL CHECK (json_valid(scores)),
    recorded_at  TEXT NOT NULL,
    supersedes   INTEGER UNIQUE REFERENCES followups (id)
) STRICT;
CREATE INDEX followups_recipient ON followups (recipient_id, timepoint);

CREATE TABLE adverse_events (
    id           INTEGER PRIMARY KEY,
    recipient_id TEXT NOT NULL REFERENCES recipients (id),
    onset        TEXT NOT NULL CHECK (date(onset) IS onset),
    term         TEXT NOT NULL CHECK (length(trim(term)) > 0),
    grade        INTEGER NOT NULL CHECK (grade BETWEEN 1 AND 5),
    serious      INTEGER NOT NULL CHECK (serious IN (0, 1)),
    relatedness  TEXT NOT NULL CHECK (relatedness IN ('unrelated', 'unlikely', 'possible', 'probable', 'definite')),
    unit_id      TEXT REFERENCES units (id),
    outcome      TEXT,
    resolved_on  TEXT CHECK (resolved_on IS NULL OR (date(resolved_on) IS resolved_on AND resolved_on >= onset)),
    recorded_at  TEXT NOT NULL,
    supersedes   INTEGER UNIQUE REFERENCES adverse_events (id)
) STRICT;
CREATE INDEX adverse_events_recipient ON adverse_events (recipient_id);
CREATE INDEX adverse_events_unit ON adverse_events (unit_id);

CREATE TRIGGER study_records_no_delete BEFORE DELETE ON study_records BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER followups_no_delete BEFORE DELETE ON followups BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER adverse_events_no_delete BEFORE DELETE ON adverse_events BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
