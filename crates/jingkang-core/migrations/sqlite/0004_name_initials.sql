-- Pinyin initials of the name (张三 → zs) for search; filled by the application on every write
-- (store::persons::name_initials) and backfilled on start for rows written before this column.
ALTER TABLE persons ADD COLUMN name_initials TEXT;
CREATE INDEX persons_initials ON persons(name_initials);
