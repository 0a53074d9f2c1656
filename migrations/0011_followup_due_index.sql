-- The follow-up work list reads, for each dispense, the visits recorded against it (a visit names a dispense of
-- the course it follows): a seek per dispense rather than a walk over every visit.
CREATE INDEX followups_course ON followups (course_id);
