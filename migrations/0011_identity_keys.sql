-- Identity encrypted at rest. Identity (name, phone, national id) is sealed, as one record, to the bank's identity
-- public key (an X25519 sealed box): whoever registers a person can write it, only the private key reads it. That
-- private key is stored only in key slots: sealed to each identity viewer's own public key (whose private key is
-- wrapped by a key derived from the viewer's password), or, while no viewer is enrolled, in the set-up slot,
-- wrapped by a key derived from the bank secret (the key file kept outside the database). The clear-text columns
-- held identity before this version; the program seals those rows when it first opens the bank for writing and
-- empties the columns.
ALTER TABLE donor_identities ADD COLUMN sealed BLOB;
ALTER TABLE recipient_identities ADD COLUMN sealed BLOB;

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
