-- Access control: users with roles and argon2id password hashes, signatures of signed acts, and the bank's
-- policy kept in the bank (versioned: the newest row is in force).

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
