-- 规范服务 on PostgreSQL reads a period's months of every person at once (set-based, hash joins):
-- an index by month lets it read only the period's rows, from the index alone.
CREATE INDEX service_months_month ON service_months(month, person_id) INCLUDE (contacts);
