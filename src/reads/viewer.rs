//! Who reads: a [`Viewer`] is what each edge (a read-API token, a signed-in browser) knows of its
//! caller, in one shape, so that scoping and auditing are decided once, in `reads`.

use entity::api_token;
use entity::states::Role;

/// Who is reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// A token's or a signed-in instructor's role, limited to these organisations (`None`: every one).
    Staff {
        role: Role,
        orgs: Option<Vec<String>>,
    },
    /// A student, identified by their GitHub user id and login (from `GET /user` at sign-in, never a
    /// typed login). The login serves only to find roster entries that have a username and no id.
    Student {
        github_id: i64,
        login: Option<String>,
    },
}

/// Where the read came through: it names the actor of the read's audit entry.
#[derive(Debug, Clone)]
pub enum Channel {
    /// The read API, with this token (its id in the entry's details, its name as the actor).
    Api(api_token::Model),
    /// The web view, in this web session.
    Web { web_session_id: i64 },
}

/// A reader: who, and through which door.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub who: Who,
    pub channel: Channel,
}

impl Viewer {
    /// The caller of the read API holding `token` (an org-scoped token sees its organisation only).
    pub fn token(token: api_token::Model) -> Self {
        Self {
            who: Who::Staff {
                role: token.role,
                orgs: token.org.clone().map(|o| vec![o]),
            },
            channel: Channel::Api(token),
        }
    }

    /// A signed-in browser with `role`, seeing `orgs` (`None`: every organisation).
    pub fn web(web_session_id: i64, role: Role, orgs: Option<Vec<String>>) -> Self {
        Self {
            who: Who::Staff { role, orgs },
            channel: Channel::Web { web_session_id },
        }
    }

    /// A signed-in student.
    pub fn student(web_session_id: i64, github_id: i64) -> Self {
        Self::student_with_login(web_session_id, github_id, None)
    }

    /// A signed-in student with the login GitHub gave at sign-in.
    pub fn student_with_login(web_session_id: i64, github_id: i64, login: Option<String>) -> Self {
        Self {
            who: Who::Student { github_id, login },
            channel: Channel::Web { web_session_id },
        }
    }

    /// May this viewer see every session and attempt of `org`? (Students see their own attempts only.)
    pub fn sees_org(&self, org: &str) -> bool {
        match &self.who {
            Who::Staff { orgs, .. } => orgs
                .as_ref()
                .is_none_or(|orgs| orgs.iter().any(|o| o == org)),
            Who::Student { .. } => false,
        }
    }

    /// May this viewer read the audit log itself (auditor or admin)?
    pub fn reads_audit(&self) -> bool {
        matches!(
            self.who,
            Who::Staff {
                role: Role::Admin | Role::Auditor,
                ..
            }
        )
    }

    /// The role shown for a staff viewer.
    pub fn role(&self) -> Option<Role> {
        match self.who {
            Who::Staff { role, .. } => Some(role),
            Who::Student { .. } => None,
        }
    }
}
