-- Indexes the interactive queries need so that none of them walks a table that grows with the bank.

-- The audit log of a record: entries whose entity_id is the record (the subject has its own index).
CREATE INDEX audit_log_entity_id ON audit_log (entity_id);
-- A donor's eligibility: recalls that named one of the donor's batches.
CREATE INDEX recalls_batch ON recalls (batch_id);
-- The home counts: stock and quarantine from the batches not yet expired.
CREATE INDEX batches_expires ON batches (expires_on);
-- The quarantine work list, in code order: only the batches still awaiting a decision.
CREATE INDEX batches_quarantined ON batches (id)
    WHERE released_at IS NULL AND discarded_at IS NULL AND recalled_at IS NULL;

-- The planner's statistics (sqlite_stat1), which `PRAGMA optimize` keeps fresh as each write session closes;
-- bounded by `analysis_limit`, so a large bank migrates in moments.
ANALYZE;
