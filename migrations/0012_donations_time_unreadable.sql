-- A collection window recall selects donations by their collection time, read through `donations_collected`.
-- A time that is not in the form stoolbank writes (a damaged or altered file) sorts anywhere or nowhere, so such
-- donations are found through this partial index, empty in a sound bank, and the recall includes them, marked.
CREATE INDEX donations_time_unreadable ON donations (id)
    WHERE strftime('%Y-%m-%dT%H:%M:%SZ', collected_at) IS NOT collected_at;
