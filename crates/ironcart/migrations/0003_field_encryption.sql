-- Personal data encrypted at rest (see docs/SECURITY.md, "Encryption at rest").
--
-- users: the email and name move to `email_enc` and `name_enc`, AES-256-GCM envelopes
-- written by the store layer (ironcart-vault), bound to table, column and row id.
-- Lookups and uniqueness by email go through `email_index`, a keyed blind index
-- (HMAC-SHA256 of the normalised email), which replaces the plaintext UNIQUE email.
--
-- Why columns are added instead of rebuilding the table: SQLite cannot drop a UNIQUE
-- column, and a portable "new table, copy, drop, rename" would fire the ON DELETE
-- CASCADE of user_roles, sessions and cart_items (SQLite cannot turn foreign keys off
-- inside the migration's transaction). So the old `email` (NOT NULL UNIQUE) and `name`
-- (NOT NULL) columns stay as legacy columns that never hold personal data: the store
-- writes the row's own id into `email` (unique, meaningless) and '' into `name`. Rows
-- written before this migration are encrypted by the store on its first start with a
-- key (Store::unlock), which then blanks their legacy columns the same way.
--
-- orders.shipping_address keeps its column and now holds an envelope of the address
-- JSON (rows from before are encrypted on first start too).
ALTER TABLE users ADD COLUMN email_index TEXT;
ALTER TABLE users ADD COLUMN email_enc TEXT;
ALTER TABLE users ADD COLUMN name_enc TEXT;
CREATE UNIQUE INDEX users_email_index ON users(email_index);

-- Data keys, wrapped by the key-encryption key (KEK), which never enters the database.
-- `wrapped` is `kw1.<kek id>.<sealed key>`; state is primary, active or retired. The
-- partial unique index makes "exactly one primary key per purpose" a database fact,
-- so two instances starting at once, or two rotations racing, cannot both win.
CREATE TABLE data_keys (
    id         TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL CHECK (purpose IN ('field', 'blind-index')),
    wrapped    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('primary', 'active', 'retired'))
);
CREATE UNIQUE INDEX data_keys_one_primary ON data_keys(purpose) WHERE state = 'primary';
