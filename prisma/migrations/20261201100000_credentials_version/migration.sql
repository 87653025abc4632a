-- Bumped by every password change (not by a re-hash of the same password). A login starts
-- its session only if the version it verified is still current, in the same statement.
ALTER TABLE "users" ADD COLUMN "credentials_version" INTEGER NOT NULL DEFAULT 0;
