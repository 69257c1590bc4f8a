-- Intrusion prevention: staff who may list, set and lift IP bans by hand.
INSERT INTO role_permissions (role, permission) VALUES
    ('security_officer', 'security:ban'),
    ('admin', 'security:ban');
