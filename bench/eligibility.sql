-- What stoolbank reads to judge the eligibility of the donors an answer shows (core::rules::DonorFacts, read by
-- app::donors::judge_all), for the sqlite3 shell and psql to read alike after the answer's own query: each donor,
-- their standing deferrals with the panel of the screening that caused each and any lift, their screenings of the
-- validity window ({window}..{today}, the policy's 60 days) with their results, and for each deferral a screening
-- lifts, the next screening of its panel with its results. The floor reads these facts; it does not judge them.
-- {donors} is the question's query for the donors whose status the answer shows (column 5 of commands.tsv).
WITH judged (id) AS MATERIALIZED ({donors})
SELECT f.id, 'donor', f.sex, f.birth_date, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM donors f WHERE f.id IN (SELECT id FROM judged)
UNION ALL
SELECT d.donor_id, 'deferral', CAST(d.id AS TEXT), d.starts_on, d.until, CAST(d.permanent AS TEXT), d.reason,
       CAST(d.recall_id AS TEXT), CAST(d.adverse_event_id AS TEXT), l.lifted_on, c.kind
FROM deferrals d LEFT JOIN screenings c ON c.id = d.screening_id LEFT JOIN deferral_lifts l ON l.deferral_id = d.id
WHERE d.donor_id IN (SELECT id FROM judged) AND NOT EXISTS (SELECT 1 FROM screenings n WHERE n.supersedes = d.screening_id)
UNION ALL
SELECT s.donor_id, 'screening', CAST(s.id AS TEXT), s.date, s.kind, r.test, r.result, NULL, NULL, NULL, NULL
FROM screenings s LEFT JOIN screening_results r ON r.screening_id = s.id
WHERE s.donor_id IN (SELECT id FROM judged) AND s.date BETWEEN '{window}' AND '{today}'
  AND NOT EXISTS (SELECT 1 FROM screenings n WHERE n.supersedes = s.id)
UNION ALL
SELECT d.donor_id, 'lifting', CAST(s.id AS TEXT), s.date, s.kind, r.test, r.result, CAST(d.id AS TEXT), NULL, NULL, NULL
FROM deferrals d JOIN screenings c ON c.id = d.screening_id
     JOIN screenings s ON s.id = (SELECT n.id FROM screenings n
                                  WHERE n.donor_id = d.donor_id AND n.kind = c.kind AND n.date >= d.starts_on
                                    AND (n.date, n.id) > (d.starts_on, d.screening_id)
                                    AND NOT EXISTS (SELECT 1 FROM screenings m WHERE m.supersedes = n.id)
                                  ORDER BY n.date, n.id LIMIT 1)
     LEFT JOIN screening_results r ON r.screening_id = s.id
WHERE d.donor_id IN (SELECT id FROM judged) AND d.starts_on <= '{today}' AND d.permanent = 0 AND d.until IS NULL
  AND d.recall_id IS NULL AND d.adverse_event_id IS NULL;
