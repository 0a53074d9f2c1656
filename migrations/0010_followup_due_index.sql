-- The follow-up work list reads every recipient's dispenses in time order and, for each, the visits recorded
-- against it (a visit names a dispense of the course it follows): both from covering indexes, with no sort and
-- no row lookups, rather than a walk over every visit for each course.
DROP INDEX dispenses_recipient;
CREATE INDEX dispenses_recipient ON dispenses (recipient_id, at);
CREATE INDEX followups_course ON followups (course_id, timepoint);
