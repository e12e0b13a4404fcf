-- A session started by the right password of a disabled or locked account that has a second
-- factor: it may only give the code, after which the account's state is said and the session
-- ends. Until then the answer is the same as for any account with a second factor.
ALTER TABLE sessions ADD COLUMN held TEXT CHECK (held IN ('disabled', 'locked'));
