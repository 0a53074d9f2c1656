-- stoolbank: the whole database schema as it stands after every migration.
--
-- This file is the whole current schema, for readers. What runs is `migrations/NNNN_name.sql`, embedded in the
-- binary and applied in order, each once, inside one transaction; PRAGMA user_version records how many ran.
-- Never edit a migration that has shipped: add a new one, and bring this file up to date with it (a test
-- builds a database from each and compares them object by object).
--
-- Conventions
-- - Nothing is deleted (every table refuses DELETE) and nothing is corrected in place: a correction is a new row
--   that supersedes the old. Rows change only where an event fills in a dated column (released_at, recalled_at,
--   ...), and every change appends an audit entry in the same transaction.
-- - Timestamps are UTC RFC 3339 text `YYYY-MM-DDTHH:MM:SSZ` (sortable); calendar dates are `YYYY-MM-DD`.
-- - Closed enumerations are CHECKed here; bank-configurable code lists (tests, products, indications, routes)
--   are CHECKed for shape here and validated against the configuration by the domain core.
-- - Identifiers are stored without their check character; the program adds it for display and verifies it on
--   input.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY CHECK (key IN ('facility', 'created_at')),
    value TEXT NOT NULL
) STRICT;

CREATE TABLE donors (
    id            TEXT PRIMARY KEY CHECK (id GLOB 'D[0-9][0-9][0-9][0-9][0-9][0-9]'),
    sex           TEXT NOT NULL CHECK (sex IN ('F', 'M')),
    birth_date    TEXT NOT NULL CHECK (date(birth_date) IS birth_date),
    registered_at TEXT NOT NULL
) STRICT;

-- Identity is kept apart from the pseudonymous record and shown only to users allowed to see it. A change of
-- identity is a new row superseding the previous one; the audit log holds only a digest of these rows.
CREATE TABLE donor_identities (
    id          INTEGER PRIMARY KEY,
    donor_id    TEXT NOT NULL REFERENCES donors (id),
    name        TEXT,
    phone       TEXT,
    national_id TEXT,
    recorded_at TEXT NOT NULL,
    supersedes  INTEGER REFERENCES donor_identities (id)
    -- name, phone and national_id held identity in clear before schema version 9 and are empty since: identity is
    -- sealed (0011_identity_keys.sql says how)
    , sealed BLOB) STRICT;
CREATE INDEX donor_identities_donor ON donor_identities (donor_id);

CREATE TABLE screenings (
    id          INTEGER PRIMARY KEY,
    donor_id    TEXT NOT NULL REFERENCES donors (id),
    kind        TEXT NOT NULL CHECK (kind IN ('questionnaire', 'blood', 'stool', 'donation-day')),
    date        TEXT NOT NULL CHECK (date(date) IS date),
    recorded_at TEXT NOT NULL,
    supersedes  INTEGER REFERENCES screenings (id)
) STRICT;
CREATE INDEX screenings_donor ON screenings (donor_id, date);
-- A screening is superseded at most once (a correction of a correction supersedes the newer one).
CREATE UNIQUE INDEX screenings_supersedes ON screenings (supersedes);

CREATE TABLE screening_results (
    id           INTEGER PRIMARY KEY,
    screening_id INTEGER NOT NULL REFERENCES screenings (id),
    test         TEXT NOT NULL CHECK (test GLOB '[a-z0-9]*' AND test NOT GLOB '*[^a-z0-9-]*'),
    result       TEXT NOT NULL CHECK (result IN ('negative', 'positive', 'indeterminate')),
    UNIQUE (screening_id, test)
) STRICT;

-- A deferral is permanent, dated (until, exclusive), or caused by a screening result and lifted by a later
-- complete negative screening of the same panel.
CREATE TABLE deferrals (
    id           INTEGER PRIMARY KEY,
    donor_id     TEXT NOT NULL REFERENCES donors (id),
    reason       TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    starts_on    TEXT NOT NULL CHECK (date(starts_on) IS starts_on),
    until        TEXT CHECK (until IS NULL OR (date(until) IS until AND until > starts_on)),
    permanent    INTEGER NOT NULL CHECK (permanent IN (0, 1)),
    screening_id INTEGER REFERENCES screenings (id),
    recorded_at  TEXT NOT NULL,
    -- The recall that caused it: open-ended (permanent = 1) until a quality manager lifts it (deferral_lifts).
    recall_id    INTEGER REFERENCES recalls (id),
    -- The safety signal (a serious, probably or definitely related adverse event) that caused it: likewise.
    adverse_event_id INTEGER REFERENCES adverse_events (id),
    CHECK (permanent = 0 OR until IS NULL),
    CHECK (permanent = 1 OR until IS NOT NULL OR screening_id IS NOT NULL)
) STRICT;
CREATE INDEX deferrals_donor ON deferrals (donor_id, starts_on);

-- A recall's deferral lifted by a quality manager: a record of its own, never an edit of the deferral.
CREATE TABLE deferral_lifts (
    id          INTEGER PRIMARY KEY,
    deferral_id INTEGER NOT NULL UNIQUE REFERENCES deferrals (id),
    lifted_on   TEXT NOT NULL CHECK (date(lifted_on) IS lifted_on),
    reason      TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    recorded_at TEXT NOT NULL
) STRICT;

-- Donations are identified by their DIN (facility, year, sequence).
CREATE TABLE donations (
    id           TEXT PRIMARY KEY CHECK (length(id) = 13),
    donor_id     TEXT NOT NULL REFERENCES donors (id),
    year         INTEGER NOT NULL CHECK (year BETWEEN 0 AND 99),
    seq          INTEGER NOT NULL CHECK (seq BETWEEN 1 AND 999999),
    collected_at TEXT NOT NULL,
    received_at  TEXT CHECK (received_at IS NULL OR received_at >= collected_at),
    mass_g       REAL CHECK (mass_g IS NULL OR mass_g > 0),
    bristol      INTEGER CHECK (bristol IS NULL OR bristol BETWEEN 1 AND 7),
    recorded_at  TEXT NOT NULL,
    UNIQUE (year, seq)
) STRICT;
-- One donation per donor and collection moment: a second entry of the same donation is refused.
CREATE UNIQUE INDEX donations_donor ON donations (donor_id, collected_at);
CREATE INDEX donations_collected ON donations (collected_at);
-- Donations whose collection time is not in the form stoolbank writes (empty in a sound bank): a window recall
-- includes them, since they may fall inside it.
CREATE INDEX donations_time_unreadable ON donations (id)
    WHERE strftime('%Y-%m-%dT%H:%M:%SZ', collected_at) IS NOT collected_at;

-- One washed preparation of one donation; material from different donors is never pooled.
CREATE TABLE batches (
    id             TEXT PRIMARY KEY CHECK (length(id) = 18),
    donation_id    TEXT NOT NULL REFERENCES donations (id),
    product        TEXT NOT NULL CHECK (product GLOB '[A-Z][0-9][0-9][0-9][0-9]'),
    prepared_at    TEXT NOT NULL,
    volume_ml      REAL CHECK (volume_ml IS NULL OR volume_ml > 0),
    expires_on     TEXT NOT NULL CHECK (date(expires_on) IS expires_on),
    released_at    TEXT,
    discarded_at   TEXT,
    discard_reason TEXT,
    recalled_at    TEXT,
    recorded_at    TEXT NOT NULL,
    UNIQUE (donation_id, product),
    CHECK ((discarded_at IS NULL) = (discard_reason IS NULL))
) STRICT;
CREATE INDEX batches_donation ON batches (donation_id);
-- The home counts: stock and quarantine from the batches not yet expired.
CREATE INDEX batches_expires ON batches (expires_on);
-- The quarantine work list, in code order: only the batches still awaiting a decision.
CREATE INDEX batches_quarantined ON batches (id)
    WHERE released_at IS NULL AND discarded_at IS NULL AND recalled_at IS NULL;

CREATE TABLE recalls (
    id          INTEGER PRIMARY KEY,
    reason      TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    selector    TEXT NOT NULL CHECK (selector IN ('donor', 'batch', 'collection-window')),
    donor_id    TEXT REFERENCES donors (id),
    batch_id    TEXT REFERENCES batches (id),
    from_date   TEXT,
    to_date     TEXT,
    at          TEXT NOT NULL,
    answer      TEXT NOT NULL CHECK (json_valid(answer)),
    recorded_at TEXT NOT NULL,
    CHECK (selector <> 'donor' OR donor_id IS NOT NULL),
    CHECK (selector <> 'batch' OR batch_id IS NOT NULL),
    CHECK (selector <> 'collection-window' OR (from_date IS NOT NULL AND to_date IS NOT NULL))
) STRICT;

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
CREATE INDEX recalls_donor ON recalls (donor_id);
CREATE INDEX recalls_batch ON recalls (batch_id);

-- Units: dispensable doses (division A0, B0, ...) and the donation's retained sample (division 00), which is
-- archived for re-testing and never dispensed. Status is derived from the dated columns and the dispense.
CREATE TABLE units (
    id                TEXT PRIMARY KEY CHECK (length(id) = 20),
    batch_id          TEXT NOT NULL REFERENCES batches (id),
    kind              TEXT NOT NULL CHECK (kind IN ('dose', 'retained')),
    location          TEXT,
    discarded_at      TEXT,
    recalled_at       TEXT,
    recall_id         INTEGER REFERENCES recalls (id),
    label_verified_at TEXT,
    CHECK ((kind = 'retained') = (substr(id, 19, 2) = '00')),
    CHECK ((recalled_at IS NULL) = (recall_id IS NULL))
) STRICT;
CREATE INDEX units_batch ON units (batch_id);
CREATE INDEX units_recall ON units (recall_id);

CREATE TABLE qc_results (
    id          INTEGER PRIMARY KEY,
    batch_id    TEXT NOT NULL REFERENCES batches (id),
    test        TEXT NOT NULL CHECK (length(test) > 0),
    result      TEXT NOT NULL CHECK (result IN ('pass', 'fail')),
    value       TEXT,
    at          TEXT NOT NULL,
    recorded_at TEXT NOT NULL
) STRICT;
CREATE INDEX qc_results_batch ON qc_results (batch_id, test);

CREATE TABLE recipients (
    id            TEXT PRIMARY KEY CHECK (id GLOB 'R[0-9][0-9][0-9][0-9][0-9][0-9]'),
    sex           TEXT NOT NULL CHECK (sex IN ('F', 'M')),
    birth_date    TEXT NOT NULL CHECK (date(birth_date) IS birth_date),
    indication    TEXT NOT NULL CHECK (length(indication) > 0),
    cohort        TEXT NOT NULL CHECK (cohort IN ('retrospective', 'prospective')),
    consent       TEXT NOT NULL CHECK (consent IN ('signed', 'data-use')),
    registered_at TEXT NOT NULL
) STRICT;

CREATE TABLE recipient_identities (
    id           INTEGER PRIMARY KEY,
    recipient_id TEXT NOT NULL REFERENCES recipients (id),
    name         TEXT,
    phone        TEXT,
    national_id  TEXT,
    recorded_at  TEXT NOT NULL,
    supersedes   INTEGER REFERENCES recipient_identities (id)
    -- clear-text columns empty since schema version 9, as for donors
    , sealed BLOB) STRICT;
CREATE INDEX recipient_identities_recipient ON recipient_identities (recipient_id);

-- A unit is dispensed at most once (UNIQUE unit_id).
CREATE TABLE dispenses (
    id           INTEGER PRIMARY KEY,
    unit_id      TEXT NOT NULL UNIQUE REFERENCES units (id),
    recipient_id TEXT NOT NULL REFERENCES recipients (id),
    route        TEXT NOT NULL CHECK (length(route) > 0),
    at           TEXT NOT NULL,
    clinician    TEXT,
    recorded_at  TEXT NOT NULL
) STRICT;
CREATE INDEX dispenses_recipient ON dispenses (recipient_id, at);

-- Labels sent to a printer or file (reprints included, with why).
CREATE TABLE label_prints (
    id          INTEGER PRIMARY KEY,
    entity_id   TEXT NOT NULL,
    format      TEXT NOT NULL CHECK (format IN ('zpl', 'png', 'svg')),
    target      TEXT NOT NULL,
    copies      INTEGER NOT NULL CHECK (copies BETWEEN 1 AND 999),
    reprint     INTEGER NOT NULL CHECK (reprint IN (0, 1)),
    reason      TEXT,
    at          TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    CHECK (reprint = 0 OR length(trim(reason)) > 0)
) STRICT;
CREATE INDEX label_prints_entity ON label_prints (entity_id);

-- A print in progress: claimed (the reprint decision taken) before the labels are sent outside any transaction,
-- then closed as printed or failed. One open claim per label: two benches cannot both print it for the first time.
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

-- The audit trail: append-only, each entry chained to the previous by SHA-256.
-- `at` is when the event happened (--at), `recorded_at` when it was entered; `subject` is the identifier the
-- entry concerns (the donor of a screening, the batch of a QC result), so the log can be filtered by record.
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
    -- Format 1: the previous entry's hash (hex); format 2: NULL (the chain holds it).
    prev_hash   TEXT,
    -- Format 1: 64 hex digits (TEXT); format 2: 32 bytes (BLOB). src/store/audit.rs describes both.
    hash        ANY NOT NULL UNIQUE CHECK (typeof(hash) IN ('text', 'blob'))
) STRICT;
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);
CREATE INDEX audit_log_subject ON audit_log (subject);
CREATE INDEX audit_log_entity_id ON audit_log (entity_id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TRIGGER settings_no_delete BEFORE DELETE ON settings BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER donors_no_delete BEFORE DELETE ON donors BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER donor_identities_no_delete BEFORE DELETE ON donor_identities BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER screenings_no_delete BEFORE DELETE ON screenings BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER screening_results_no_delete BEFORE DELETE ON screening_results BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER deferrals_no_delete BEFORE DELETE ON deferrals BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER deferral_lifts_no_delete BEFORE DELETE ON deferral_lifts BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER donations_no_delete BEFORE DELETE ON donations BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER batches_no_delete BEFORE DELETE ON batches BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER recalls_no_delete BEFORE DELETE ON recalls BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER recall_contacts_no_delete BEFORE DELETE ON recall_contacts BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER units_no_delete BEFORE DELETE ON units BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER qc_results_no_delete BEFORE DELETE ON qc_results BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER recipients_no_delete BEFORE DELETE ON recipients BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER recipient_identities_no_delete BEFORE DELETE ON recipient_identities BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER dispenses_no_delete BEFORE DELETE ON dispenses BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER label_prints_no_delete BEFORE DELETE ON label_prints BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;

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
CREATE INDEX followups_course ON followups (course_id, timepoint);

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
CREATE TRIGGER label_claims_no_delete BEFORE DELETE ON label_claims BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER label_claims_closed_once BEFORE UPDATE ON label_claims WHEN OLD.closed_at IS NOT NULL BEGIN SELECT RAISE(ABORT, 'a closed claim is never changed'); END;


-- A user, keyed by the name typed at sign-in. Roles: their CLI names, space-separated. Never deleted: a user
-- who leaves is disabled. `failed_attempts` counts failed sign-ins in a row (the policy's `lockout_after` locks).
CREATE TABLE users (
    id              TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    roles           TEXT NOT NULL CHECK (length(trim(roles)) > 0),
    password_hash   TEXT NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    disabled        INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    failed_attempts INTEGER NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    created_at      TEXT NOT NULL
) STRICT;
CREATE TRIGGER users_no_delete BEFORE DELETE ON users BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;

-- A signed act: who signed, what the signature means, and the audit entry of the record it signs (its sequence
-- and hash), so that a signature cannot be moved to another record without `verify` naming it.
CREATE TABLE signatures (
    id         INTEGER PRIMARY KEY,
    signer     TEXT NOT NULL CHECK (length(signer) > 0),
    meaning    TEXT NOT NULL CHECK (length(trim(meaning)) > 0),
    entity     TEXT NOT NULL,
    entity_id  TEXT NOT NULL,
    audit_seq  INTEGER NOT NULL UNIQUE REFERENCES audit_log (seq),
    entry_hash TEXT NOT NULL,
    signed_at  TEXT NOT NULL
) STRICT;
CREATE INDEX signatures_entity ON signatures (entity_id);
CREATE TRIGGER signatures_no_delete BEFORE DELETE ON signatures BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER signatures_no_update BEFORE UPDATE ON signatures BEGIN SELECT RAISE(ABORT, 'a signature is never changed'); END;

-- The bank's policy as TOML, one row per version; the newest is in force. None: the built-in defaults.
CREATE TABLE policies (
    id     INTEGER PRIMARY KEY,
    toml   TEXT NOT NULL,
    set_at TEXT NOT NULL
) STRICT;
CREATE TRIGGER policies_no_delete BEFORE DELETE ON policies BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER policies_no_update BEFORE UPDATE ON policies BEGIN SELECT RAISE(ABORT, 'a policy version is never changed; set a new one'); END;

-- Identity encrypted at rest (0011_identity_keys.sql): identity rows are sealed to the bank's identity public key,
-- whose private key lives only in key slots.
-- Rows still in clear (none once the program has sealed them): found without reading every row at each open.
CREATE INDEX donor_identities_clear ON donor_identities (id) WHERE sealed IS NULL;
CREATE INDEX recipient_identities_clear ON recipient_identities (id) WHERE sealed IS NULL;

CREATE TRIGGER donor_identities_sealed BEFORE INSERT ON donor_identities
WHEN NEW.sealed IS NULL OR NEW.name IS NOT NULL OR NEW.phone IS NOT NULL OR NEW.national_id IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'identity is stored sealed, never in clear'); END;
CREATE TRIGGER recipient_identities_sealed BEFORE INSERT ON recipient_identities
WHEN NEW.sealed IS NULL OR NEW.name IS NOT NULL OR NEW.phone IS NOT NULL OR NEW.national_id IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'identity is stored sealed, never in clear'); END;

-- The bank's identity keys, one per generation (a re-key after a viewer is revoked makes the next); the latest is
-- current and every identity row is sealed to it. Only public keys are stored here.
CREATE TABLE identity_keys (
    id          INTEGER PRIMARY KEY,
    public_key  BLOB NOT NULL UNIQUE CHECK (length(public_key) = 32),
    created_at  TEXT NOT NULL,
    reason      TEXT NOT NULL CHECK (length(reason) > 0)
) STRICT;

-- Users enrolled to read identity, each with an X25519 key pair whose private key is wrapped (XChaCha20-Poly1305)
-- by a key derived from their password (argon2id with this salt and these costs). A revoked or re-enrolled viewer's
-- row stays, ended; `rekey_from` names the identity key a revocation leaves to be replaced.
CREATE TABLE identity_viewers (
    id          INTEGER PRIMARY KEY,
    user_name   TEXT NOT NULL CHECK (length(user_name) > 0),
    public_key  BLOB NOT NULL CHECK (length(public_key) = 32),
    kdf_salt    BLOB NOT NULL CHECK (length(kdf_salt) = 16),
    kdf_m_kib   INTEGER NOT NULL CHECK (kdf_m_kib >= 8),
    kdf_t       INTEGER NOT NULL CHECK (kdf_t >= 1),
    kdf_p       INTEGER NOT NULL CHECK (kdf_p >= 1),
    wrapped_key BLOB NOT NULL,
    enrolled_at TEXT NOT NULL,
    ended_at    TEXT,
    rekey_from  INTEGER REFERENCES identity_keys (id)
) STRICT;
-- One enrolment in force per user.
CREATE UNIQUE INDEX identity_viewers_current ON identity_viewers (user_name) WHERE ended_at IS NULL;

-- The identity private key of one generation, sealed to one viewer (`viewer_id`), or wrapped by the bank secret in
-- the set-up slot (`viewer_id` NULL). A removed slot keeps its row; its key material is erased.
CREATE TABLE identity_key_slots (
    id          INTEGER PRIMARY KEY,
    key_id      INTEGER NOT NULL REFERENCES identity_keys (id),
    viewer_id   INTEGER REFERENCES identity_viewers (id),
    sealed_key  BLOB,
    made_at     TEXT NOT NULL,
    removed_at  TEXT,
    CHECK ((sealed_key IS NULL) = (removed_at IS NOT NULL))
) STRICT;
CREATE UNIQUE INDEX identity_key_slots_live ON identity_key_slots (key_id, coalesce(viewer_id, 0))
    WHERE removed_at IS NULL;

CREATE TRIGGER identity_keys_no_delete BEFORE DELETE ON identity_keys BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER identity_viewers_no_delete BEFORE DELETE ON identity_viewers BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER identity_key_slots_no_delete BEFORE DELETE ON identity_key_slots BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;

-- The planner's statistics (sqlite_stat1), kept fresh by `PRAGMA optimize` as each write session closes.
ANALYZE;
