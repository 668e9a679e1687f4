-- v6: no change here. PostgreSQL's flush() reports conflicts by position.
SELECT 1;
