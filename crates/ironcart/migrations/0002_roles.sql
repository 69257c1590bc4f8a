-- Built-in roles and their permissions. Roles are data: the code checks permissions,
-- never role names. See docs/RBAC.md for what each permission allows.
INSERT INTO roles (name, description) VALUES
    ('customer', 'A shopper: own profile, cart and orders'),
    ('support', 'Customer support: reads customers and orders'),
    ('catalog_manager', 'Maintains products and runs catalog imports'),
    ('order_manager', 'Reads and moves orders through their lifecycle'),
    ('security_officer', 'Reads the audit trail and the user list'),
    ('admin', 'Everything, including role assignment');

INSERT INTO role_permissions (role, permission) VALUES
    ('customer', 'profile:read'), ('customer', 'profile:write'),
    ('customer', 'cart:manage'), ('customer', 'order:place'), ('customer', 'order:read_own'),

    ('support', 'profile:read'), ('support', 'profile:write'),
    ('support', 'user:read'), ('support', 'order:read_all'),

    ('catalog_manager', 'profile:read'), ('catalog_manager', 'profile:write'),
    ('catalog_manager', 'product:write'), ('catalog_manager', 'import:run'),

    ('order_manager', 'profile:read'), ('order_manager', 'profile:write'),
    ('order_manager', 'order:read_all'), ('order_manager', 'order:manage'),

    ('security_officer', 'profile:read'), ('security_officer', 'profile:write'),
    ('security_officer', 'user:read'), ('security_officer', 'audit:read'),

    ('admin', 'profile:read'), ('admin', 'profile:write'),
    ('admin', 'cart:manage'), ('admin', 'order:place'), ('admin', 'order:read_own'),
    ('admin', 'product:write'), ('admin', 'import:run'),
    ('admin', 'order:read_all'), ('admin', 'order:manage'),
    ('admin', 'user:read'), ('admin', 'user:manage_roles'), ('admin', 'audit:read');
