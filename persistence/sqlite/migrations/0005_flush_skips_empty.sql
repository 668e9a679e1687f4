-- v5: no change here. PostgreSQL's flush() skips statements with no rows.
SELECT 1;
