-- Nothing on SQLite: 规范服务 decides each person with index seeks on the primary key
-- (person_id, month); an index by month would only slow the writes. (PostgreSQL's 0020 adds one.)
SELECT 1;
