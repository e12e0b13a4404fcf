-- 购买服务 (SPEC §7): purchase-of-service contracts of a region with a provider, identified by its
-- 统一社会信用代码. What a contract bought is computed from the service records of the provider's
-- institutions in the contract's region and period (the sessions name their institution).
CREATE TABLE service_contracts (
    id               INTEGER PRIMARY KEY,
    change_id        INTEGER NOT NULL REFERENCES change_sets(id),
    region           TEXT NOT NULL REFERENCES regions(code),
    buyer            TEXT NOT NULL,
    provider         TEXT NOT NULL,
    provider_code    TEXT NOT NULL,
    starts_on        TEXT NOT NULL,
    ends_on          TEXT NOT NULL,
    budget_yuan      INTEGER NOT NULL CHECK (budget_yuan > 0),
    per_person_yuan  INTEGER NOT NULL CHECK (per_person_yuan > 0),
    planned_persons  INTEGER NOT NULL CHECK (planned_persons >= 0)
);
CREATE INDEX service_contracts_region ON service_contracts(region, starts_on);
