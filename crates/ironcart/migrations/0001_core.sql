-- Core schema. Portable between SQLite and PostgreSQL: ids are application-generated
-- UUID strings, times are unix seconds (BIGINT), money is integer minor units (BIGINT),
-- flags are BIGINT 0/1 (sqlx's Any driver cannot decode SQLite booleans).

CREATE TABLE roles (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL
);

CREATE TABLE role_permissions (
    role       TEXT NOT NULL REFERENCES roles(name) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (role, permission)
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role    TEXT NOT NULL REFERENCES roles(name),
    PRIMARY KEY (user_id, role)
);

-- A session is one refresh-token family: every rotation stays in the family, and
-- replaying a rotated token revokes the whole family.
CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
    revoked_reason TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);

CREATE TABLE products (
    id           TEXT PRIMARY KEY,
    handle       TEXT NOT NULL UNIQUE,
    title        TEXT NOT NULL,
    body_html    TEXT NOT NULL,
    vendor       TEXT,
    product_type TEXT,
    published    BIGINT NOT NULL CHECK (published IN (0, 1)),
    option_names TEXT NOT NULL,
    search_text  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE product_tags (
    product_id TEXT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    tag        TEXT NOT NULL,
    position   BIGINT NOT NULL,
    PRIMARY KEY (product_id, tag)
);
CREATE INDEX product_tags_tag ON product_tags(tag);

CREATE TABLE product_images (
    product_id TEXT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    position   BIGINT NOT NULL,
    src        TEXT NOT NULL,
    alt        TEXT,
    PRIMARY KEY (product_id, position)
);

-- Stock can only go negative for variants whose policy allows overselling: the
-- CHECK is the last line of defence behind the conditional UPDATE in checkout.
CREATE TABLE variants (
    id                 TEXT PRIMARY KEY,
    product_id         TEXT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    position           BIGINT NOT NULL,
    sku                TEXT UNIQUE,
    option1            TEXT NOT NULL DEFAULT '',
    option2            TEXT NOT NULL DEFAULT '',
    option3            TEXT NOT NULL DEFAULT '',
    price              BIGINT NOT NULL CHECK (price >= 0),
    compare_at_price   BIGINT CHECK (compare_at_price IS NULL OR compare_at_price >= 0),
    inventory_quantity BIGINT NOT NULL,
    inventory_policy   TEXT NOT NULL CHECK (inventory_policy IN ('deny', 'continue')),
    grams              BIGINT,
    requires_shipping  BIGINT NOT NULL CHECK (requires_shipping IN (0, 1)),
    taxable            BIGINT NOT NULL CHECK (taxable IN (0, 1)),
    barcode            TEXT,
    updated_at         BIGINT NOT NULL,
    UNIQUE (product_id, option1, option2, option3),
    CHECK (inventory_quantity >= 0 OR inventory_policy = 'continue')
);
CREATE INDEX variants_product ON variants(product_id);

CREATE TABLE cart_items (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    variant_id TEXT NOT NULL REFERENCES variants(id) ON DELETE CASCADE,
    quantity   BIGINT NOT NULL CHECK (quantity > 0),
    added_at   BIGINT NOT NULL,
    PRIMARY KEY (user_id, variant_id)
);

CREATE TABLE orders (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users(id),
    status           TEXT NOT NULL CHECK (status IN ('paid', 'fulfilled', 'cancelled', 'refunded')),
    currency         TEXT NOT NULL,
    subtotal         BIGINT NOT NULL,
    total            BIGINT NOT NULL,
    shipping_address TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX orders_user ON orders(user_id, created_at);

CREATE TABLE order_lines (
    order_id   TEXT NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    line_no    BIGINT NOT NULL,
    variant_id TEXT NOT NULL,
    sku        TEXT,
    title      TEXT NOT NULL,
    quantity   BIGINT NOT NULL CHECK (quantity > 0),
    unit_price BIGINT NOT NULL,
    line_total BIGINT NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

-- Only the provider's references are kept: card data never reaches our storage.
CREATE TABLE payments (
    id           TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    provider     TEXT NOT NULL,
    provider_ref TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('charge', 'refund')),
    amount       BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX payments_order ON payments(order_id);

CREATE TABLE order_events (
    order_id    TEXT NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    at          BIGINT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    actor_id    TEXT NOT NULL
);
CREATE INDEX order_events_order ON order_events(order_id);

-- The single place where security-relevant actions are recorded.
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor_id   TEXT,
    action     TEXT NOT NULL,
    target     TEXT,
    outcome    TEXT NOT NULL,
    request_id TEXT,
    client_ip  TEXT,
    details    TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events(at);
