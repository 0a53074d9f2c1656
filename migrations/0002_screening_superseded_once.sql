-- A screening is superseded at most once: two benches correcting the same screening cannot both succeed.
DROP INDEX screenings_supersedes;
CREATE UNIQUE INDEX screenings_supersedes ON screenings (supersedes);
