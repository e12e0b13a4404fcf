-- The unique constraint on persons.id_number becomes a named unique index, so that a first bulk load
-- into an empty registry can drop the person indexes, insert, and rebuild them (store::persons::
-- drop_indexes_for_bulk_load). The index on name goes: every person query is scoped by residence region
-- first, and a name search within a county scans the region's index range.
ALTER TABLE persons DROP CONSTRAINT persons_id_number_key;
CREATE UNIQUE INDEX persons_id_number ON persons(id_number);
DROP INDEX persons_name;
