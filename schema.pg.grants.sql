-- stoolbank on PostgreSQL: what the benches' logins may do, and no more.
--
-- The role that ran `stoolbank init` owns the bank's tables, and an owner can drop or disable the triggers that
-- keep history append-only, alter a table, or truncate one. Benches therefore connect as logins that do not own
-- the bank: members of the group role stoolbank_bench, which this file grants what the program needs. Such a
-- login works every command (the rules, the audit trail and `verify` included) but cannot delete a record, rewrite
-- the audit log, drop or disable a trigger, or change the schema: those need the owner's login, kept for `init`
-- and for schema upgrades.
--
-- Once, as a role allowed to make roles:      CREATE ROLE stoolbank_bench NOLOGIN;
-- For each bench or person:                   CREATE ROLE alice LOGIN PASSWORD '…' IN ROLE stoolbank_bench;
-- As the bank's owner, in the bank's database, after `stoolbank init` and after each upgrade of the schema:
--                                             psql -d BANK -f schema.pg.grants.sql
-- The benches then use --db postgres://alice@HOST/BANK.

GRANT USAGE ON SCHEMA public TO stoolbank_bench;
-- The program reads every table and appends to them; some rows change state in place (a unit released, a
-- session ended), which the schema's triggers confine to what may change. Never DELETE or TRUNCATE.
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO stoolbank_bench;
-- The audit log and the bank's marker are never rewritten, whatever the triggers.
REVOKE UPDATE ON audit_log, stoolbank_schema FROM stoolbank_bench;
REVOKE INSERT ON stoolbank_schema FROM stoolbank_bench;
-- The identity columns' sequences, for rows inserted without an id.
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO stoolbank_bench;
