-- Bulk export of customer data (POST /api/v1/admin/customers/export) needs its own
-- permission, held by admins only. It is not implied by user:read: reading a page of
-- accounts is quota-limited, an export is a deliberate act with a stated reason.
INSERT INTO role_permissions (role, permission) VALUES ('admin', 'customer:export');
