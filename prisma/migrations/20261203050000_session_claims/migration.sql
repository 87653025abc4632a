-- Claims fixed when a session starts and carried unchanged into every access token its
-- refreshes issue (src/auth/access-claims.ts, SessionClaims): how and when the user
-- authenticated, and which client the session belongs to. A refresh never makes them fresher.
ALTER TABLE token_families ADD COLUMN claims JSONB NOT NULL DEFAULT '{}'::jsonb;
