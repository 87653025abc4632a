-- The per-session refresh limit's fixed window, kept in the family row that every rotation
-- already locks: shared by all instances, and no extra statement.
ALTER TABLE "token_families" ADD COLUMN "refresh_window_start" TIMESTAMPTZ(3);
ALTER TABLE "token_families" ADD COLUMN "refresh_count" INTEGER NOT NULL DEFAULT 0;
