-- Search by name or pinyin initials within a region: the region is in the index too, so the matches
-- in scope are found and ordered from the index alone and only the page of rows shown is read
-- (INCLUDE (id): PostgreSQL, unlike SQLite, does not keep the row id in every index).
DROP INDEX persons_initials;
CREATE INDEX persons_initials_region ON persons(name_initials text_pattern_ops, residence_region) INCLUDE (id);
DROP INDEX persons_name;
CREATE INDEX persons_name_region ON persons(name text_pattern_ops, residence_region) INCLUDE (id);
