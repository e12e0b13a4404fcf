-- Failed sign-in attempts per account, client and step (password, second factor): a lock holds
-- for that account from that client only, so nobody can lock another person out at will; each
-- further lock lasts twice as long (locks), up to a day. Shared by every server of a deployment.
CREATE TABLE login_throttle (
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client       TEXT NOT NULL,
    step         TEXT NOT NULL CHECK (step IN ('password', 'totp')),
    failures     INTEGER NOT NULL DEFAULT 0,
    locks        INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    last_at      TEXT NOT NULL,
    PRIMARY KEY (user_id, client, step)
);
