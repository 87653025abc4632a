-- A change of address is asked for with the current password. The link and code it mails
-- carry the credentials version that check saw, and the move happens only while it is still
-- current: a password change or reset in between makes them useless.
ALTER TABLE "email_tokens" ADD COLUMN "credentials_version" INTEGER;
