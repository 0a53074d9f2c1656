-- A safety signal (a serious adverse event probably or definitely related to a unit) defers the unit's donor
-- until a quality manager lifts it, like a recall: such a deferral is open-ended (permanent = 1 in this table)
-- and names the adverse event; its lift is a deferral_lifts record.
ALTER TABLE deferrals ADD COLUMN adverse_event_id INTEGER REFERENCES adverse_events (id);
