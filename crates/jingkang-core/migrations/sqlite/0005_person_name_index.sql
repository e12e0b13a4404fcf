-- Name search is by prefix (张 finds 张三, 张小明) on this index; every query is also scoped by region.
CREATE INDEX persons_name ON persons(name);
