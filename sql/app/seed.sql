-- seed.sql: demo data: test@test.com with one product and a few orders (paid, pending,
-- refunded). Idempotent.
INSERT INTO users (email, password)
VALUES ('test@test.com', crypt('test', gen_salt('bf', 10)))
ON CONFLICT (email) DO NOTHING;

INSERT INTO products (user_id, name, description, price)
SELECT u.id, 'Launch Checklist', 'A 40-page checklist for launching a digital product.', 1900
FROM users u
WHERE u.email = 'test@test.com'
  AND NOT EXISTS (SELECT 1 FROM products p WHERE p.user_id = u.id);

INSERT INTO orders (product_id, email, name, status, amount, created_at)
SELECT p.id, o.email, o.name, o.status, p.price, now() - o.age
FROM products p
JOIN users u ON u.id = p.user_id AND u.email = 'test@test.com'
CROSS JOIN (VALUES ('ada@example.com', 'Ada', 'paid', interval '2 hours'),
                   ('linus@example.com', 'Linus', 'paid', interval '1 day'),
                   ('grace@example.com', 'Grace', 'pending', interval '10 minutes'),
                   ('alan@example.com', 'Alan', 'refunded', interval '3 hours'))
     AS o (email, name, status, age)
WHERE NOT EXISTS (SELECT 1 FROM orders x WHERE x.product_id = p.id);
