-- Named leases shared by every server of a deployment: one import at a time per database, and
-- (later) background jobs run once across the cluster. A lease past its expiry may be taken over.
CREATE TABLE leases (
    name    TEXT PRIMARY KEY,
    holder  TEXT NOT NULL,
    since   TEXT NOT NULL,
    expires TEXT NOT NULL
);
