-- Accounts, sessions and API tokens (issue 4). Timestamps are RFC 3339 TEXT.

CREATE TABLE organisations (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    region_code TEXT NOT NULL REFERENCES regions(code),
    UNIQUE (name, region_code)
);

CREATE TABLE users (
    id                   INTEGER PRIMARY KEY,
    username             TEXT NOT NULL UNIQUE,
    display_name         TEXT NOT NULL,
    role                 TEXT NOT NULL CHECK (role IN ('admin','civil','township','worker','doctor','hospital',
                                                       'police','disability','health','auditor')),
    region_code          TEXT NOT NULL REFERENCES regions(code),
    organisation_id      INTEGER REFERENCES organisations(id),
    password_hash        TEXT NOT NULL,                 -- argon2id PHC string
    must_change_password INTEGER NOT NULL DEFAULT 1,
    password_changed_at  TEXT NOT NULL,
    failed_logins        INTEGER NOT NULL DEFAULT 0,
    locked_until         TEXT,
    disabled             INTEGER NOT NULL DEFAULT 0,
    totp_secret          TEXT,                          -- base32; NULL until enrolled
    totp_last_step       INTEGER,                       -- last accepted TOTP time step: a code works once
    created_at           TEXT NOT NULL
);

-- A session is identified by the SHA-256 of the random token in the cookie: a copy of this table
-- does not let anyone log in.
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    totp_ok     INTEGER NOT NULL DEFAULT 0,
    totp_pending TEXT                -- a TOTP secret being enrolled in this session
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    last_used   TEXT,
    revoked     INTEGER NOT NULL DEFAULT 0
);

-- One-time recovery codes for the second factor, stored hashed.
CREATE TABLE totp_recovery_codes (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    used_at     TEXT
);
CREATE INDEX totp_recovery_codes_user ON totp_recovery_codes(user_id);
