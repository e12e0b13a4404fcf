-- Service contacts per person and month, kept with every service record: 规范服务 reads a
-- person's months from here (one index seek) instead of counting their attendance rows.
CREATE TABLE service_months (
    person_id  BIGINT NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    month      TEXT NOT NULL,
    contacts   BIGINT NOT NULL,
    PRIMARY KEY (person_id, month)
);
INSERT INTO service_months (person_id, month, contacts)
    SELECT person_id, to_char(service_date, 'YYYY-MM'), COUNT(*) FROM service_attendance GROUP BY person_id, to_char(service_date, 'YYYY-MM');
