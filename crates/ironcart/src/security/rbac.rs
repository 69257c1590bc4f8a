//! Role-based access control. Roles and their permissions are data (the
//! `role_permissions` table); code names only permissions, never roles. Every route
//! declares the [`Access`] it needs where it is defined; anything undeclared is denied.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::Serialize;

/// One thing a principal may do. The string forms are the ones stored as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Permission {
    #[serde(rename = "profile:read")]
    ProfileRead,
    #[serde(rename = "profile:write")]
    ProfileWrite,
    #[serde(rename = "cart:manage")]
    CartManage,
    #[serde(rename = "order:place")]
    OrderPlace,
    #[serde(rename = "order:read_own")]
    OrderReadOwn,
    #[serde(rename = "order:read_all")]
    OrderReadAll,
    #[serde(rename = "order:manage")]
    OrderManage,
    #[serde(rename = "product:write")]
    ProductWrite,
    #[serde(rename = "import:run")]
    ImportRun,
    #[serde(rename = "user:read")]
    UserRead,
    #[serde(rename = "user:manage_roles")]
    UserManageRoles,
    #[serde(rename = "audit:read")]
    AuditRead,
    #[serde(rename = "customer:export")]
    CustomerExport,
    #[serde(rename = "security:ban")]
    SecurityBan,
}

impl Permission {
    pub const ALL: [Permission; 14] = [
        Permission::ProfileRead,
        Permission::ProfileWrite,
        Permission::CartManage,
        Permission::OrderPlace,
        Permission::OrderReadOwn,
        Permission::OrderReadAll,
        Permission::OrderManage,
        Permission::ProductWrite,
        Permission::ImportRun,
        Permission::UserRead,
        Permission::UserManageRoles,
        Permission::AuditRead,
        Permission::CustomerExport,
        Permission::SecurityBan,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ProfileRead => "profile:read",
            Permission::ProfileWrite => "profile:write",
            Permission::CartManage => "cart:manage",
            Permission::OrderPlace => "order:place",
            Permission::OrderReadOwn => "order:read_own",
            Permission::OrderReadAll => "order:read_all",
            Permission::OrderManage => "order:manage",
            Permission::ProductWrite => "product:write",
            Permission::ImportRun => "import:run",
            Permission::UserRead => "user:read",
            Permission::UserManageRoles => "user:manage_roles",
            Permission::AuditRead => "audit:read",
            Permission::CustomerExport => "customer:export",
            Permission::SecurityBan => "security:ban",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == value)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a route requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (catalog, login, health).
    Public,
    /// A signed-in principal holding this permission.
    Requires(Permission),
}

/// The role → permissions table, loaded from the database at start.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    roles: HashMap<String, HashSet<Permission>>,
}

impl Policy {
    /// Builds the policy from stored (role, permission) pairs; unknown permission
    /// names are ignored (they grant nothing), and reported back to the caller.
    pub fn from_pairs(pairs: &[(String, String)]) -> (Self, Vec<String>) {
        let mut roles: HashMap<String, HashSet<Permission>> = HashMap::new();
        let mut unknown = Vec::new();
        for (role, permission) in pairs {
            match Permission::parse(permission) {
                Some(p) => {
                    roles.entry(role.clone()).or_default().insert(p);
                }
                None => unknown.push(format!("{role}:{permission}")),
            }
        }
        (Self { roles }, unknown)
    }

    pub fn role_exists(&self, role: &str) -> bool {
        self.roles.contains_key(role)
    }

    pub fn role_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.roles.keys().cloned().collect();
        names.sort();
        names
    }

    /// The union of the permissions of the given roles.
    pub fn permissions_of(&self, roles: &[String]) -> HashSet<Permission> {
        roles
            .iter()
            .filter_map(|r| self.roles.get(r))
            .flatten()
            .copied()
            .collect()
    }

    /// Whether a holder of `roles` may use a route declared with `access`.
    pub fn allows(&self, roles: Option<&[String]>, access: Access) -> bool {
        match (access, roles) {
            (Access::Public, _) => true,
            (Access::Requires(_), None) => false,
            (Access::Requires(p), Some(roles)) => self.permissions_of(roles).contains(&p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        let pairs = vec![
            ("customer".to_owned(), "order:place".to_owned()),
            ("admin".to_owned(), "order:place".to_owned()),
            ("admin".to_owned(), "user:manage_roles".to_owned()),
            ("admin".to_owned(), "no:such".to_owned()),
        ];
        let (policy, unknown) = Policy::from_pairs(&pairs);
        assert_eq!(unknown, vec!["admin:no:such".to_owned()]);
        policy
    }

    #[test]
    fn permissions_round_trip_through_their_names() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
        }
        assert_eq!(Permission::parse("admin"), None);
    }

    #[test]
    fn default_deny() {
        let policy = policy();
        let customer = vec!["customer".to_owned()];
        let nobody: Vec<String> = vec![];
        let ghost = vec!["ghost".to_owned()];
        let manage = Access::Requires(Permission::UserManageRoles);
        assert!(!policy.allows(None, manage));
        assert!(!policy.allows(Some(&customer), manage));
        assert!(!policy.allows(Some(&nobody), Access::Requires(Permission::OrderPlace)));
        assert!(!policy.allows(Some(&ghost), Access::Requires(Permission::OrderPlace)));
        assert!(policy.allows(Some(&customer), Access::Requires(Permission::OrderPlace)));
        assert!(policy.allows(None, Access::Public));
    }
}
