-- schema.sql: the Nexus Sales app's tables as the app's own migrations create them. In
-- production the app owns them and nexusd only reads and updates them; the demo and the
-- tests create them with this file.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE IF NOT EXISTS users (
    id         serial PRIMARY KEY,
    email      text NOT NULL UNIQUE,
    password   text NOT NULL,              -- bcrypt hash
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS products (
    id          serial PRIMARY KEY,
    user_id     integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    price       integer NOT NULL CHECK (price >= 0),   -- cents
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS orders (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    product_id integer NOT NULL REFERENCES products (id) ON DELETE RESTRICT,
    email      text NOT NULL,
    name       text NOT NULL,
    status     text NOT NULL DEFAULT 'pending',
    amount     integer NOT NULL CHECK (amount >= 0),   -- cents
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS orders_product_id ON orders (product_id);
CREATE INDEX IF NOT EXISTS orders_created_at ON orders (created_at);
