-- v4: no change here. PostgreSQL gains its flush() function; both stores keep one
-- numbering.
SELECT 1;
