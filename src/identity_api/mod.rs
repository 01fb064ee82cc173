//! The identity API under `/api/identity`: users and groups for SSSD hosts, in the shape
//! SSSD's `idp` provider (2.11+, `idp_type = keycloak:<issuer>/api/identity`) speaks.
//!
//! | request | answer |
//! |---|---|
//! | `GET users?username=NAME&exact=true` | `[user]`, `[]` when there is none |
//! | `GET users?search=NAME[&exact=true]` | users whose name contains NAME (or equals it) |
//! | `GET users?uidNumber=N` | `[user]` (ahdapa's own clients) |
//! | `GET users[?max=N&after=CURSOR]` | every user by name; with `max`, pages with a `Link: rel="next"` |
//! | `GET users/{id}` | `user`, 404 when there is none |
//! | `GET users/{id}/groups` | the user's groups, 404 when there is no such user |
//! | `GET groups?search=NAME&exact=true` | `[group]` |
//! | `GET groups?gidNumber=N` | `[group]` |
//! | `GET groups[?max=N&after=CURSOR]` | every group by name |
//! | `GET groups/{id}` | `group`, 404 when there is none |
//! | `GET groups/{id}/members` | the member users, complete (no cap); 404 for no such group |
//! | `GET initgroups?username=NAME` | `{"user": user, "groups": [group]}` in one call |
//!
//! Searches answer `200 []` when nothing matches (SSSD reads only 200 and treats `[]` as
//! "no such user"); the paths that name an object by id answer 404 when there is none,
//! as Keycloak does. SSSD only puts ids it got from a search into those paths (its
//! `keycloak_lookup` searches first, in the same `oidc_child` run), so a 404 there means
//! the object went away between the two requests, and that one lookup fails.
//!
//! A user is `{"id", "username", "enabled", "uidNumber", "gidNumber", "homeDirectory",
//! "loginShell", "gecos"}`: `id` is the Kerberos principal (path-safe, stable), never a
//! number. A group is `{"id", "name", "path", "gidNumber", "description"}` and never
//! has `username` (SSSD tells users from groups by that key). Keycloak parameters this
//! API does not need (`briefRepresentation`, `populateHierarchy`, `first` without
//! `max`, ...) are accepted and ignored. Authorization (the `directory.read` scope) is
//! the web layer's, through the shared resource-server verifier.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::directory::{Directory, DirectoryError, Group, GroupQuery, User, UserQuery};

/// The scope every identity request needs.
pub const SCOPE: &str = "directory.read";

/// One parsed identity request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A user search or listing.
    Users(UserQuery, Page),
    /// One user by id.
    User(String),
    /// A user's groups, by the user's id.
    UserGroups(String),
    /// A group search or listing.
    Groups(GroupQuery, Page),
    /// One group by id (= name).
    Group(String),
    /// A group's members, by the group's id.
    GroupMembers(String),
    /// A user and its groups, by login name.
    Initgroups(String),
}

/// Which slice of a listing to return.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// At most this many (everything when `None`).
    pub max: Option<usize>,
    /// Only names after this one (the `after` cursor, decoded).
    pub after: Option<String>,
}

/// An answer: status 200 or 404, a JSON body, and the cursor of the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// `true`: 200, `false`: 404 `not_found`.
    pub found: bool,
    /// The body.
    pub body: Value,
    /// The `after` value for the next page, when a page was cut short.
    pub next: Option<String>,
}

/// Parses the path below `/api/identity/` and the query string. The error is shown to
/// the client as `invalid_request`.
pub fn parse(path: &str, query: Option<&str>) -> Result<Request, String> {
    let params = Params::parse(query.unwrap_or_default())?;
    let segments: Vec<String> = path
        .trim_end_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| "a path segment is not UTF-8".to_owned())
        })
        .collect::<Result<_, _>>()?;
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let exact = params.flag("exact")?;
    match segs.as_slice() {
        ["users"] => {
            let query = if let Some(name) = params.get("username") {
                UserQuery::Name {
                    name: name.to_owned(),
                    exact,
                }
            } else if let Some(name) = params.get("search") {
                UserQuery::Name {
                    name: name.to_owned(),
                    exact,
                }
            } else if let Some(n) = params.get("uidNumber") {
                UserQuery::UidNumber(number(n, "uidNumber")?)
            } else {
                UserQuery::All
            };
            Ok(Request::Users(query, params.page()?))
        }
        ["users", id] if !id.is_empty() => Ok(Request::User((*id).to_owned())),
        ["users", id, "groups"] if !id.is_empty() => Ok(Request::UserGroups((*id).to_owned())),
        ["groups"] => {
            let query = if let Some(name) = params.get("search") {
                GroupQuery::Name {
                    name: name.to_owned(),
                    exact,
                }
            } else if let Some(n) = params.get("gidNumber") {
                GroupQuery::GidNumber(number(n, "gidNumber")?)
            } else {
                GroupQuery::All
            };
            Ok(Request::Groups(query, params.page()?))
        }
        ["groups", id] if !id.is_empty() => Ok(Request::Group((*id).to_owned())),
        ["groups", id, "members"] if !id.is_empty() => Ok(Request::GroupMembers((*id).to_owned())),
        ["initgroups"] => match params.get("username") {
            Some(name) => Ok(Request::Initgroups(name.to_owned())),
            None => Err("initgroups needs username=".into()),
        },
        _ => Err(format!("no such identity resource: {path:?}")),
    }
}

/// Answers a request from the directory.
pub async fn answer(dir: &Directory, request: Request) -> Result<Answer, DirectoryError> {
    let found = |body: Value| Answer {
        found: true,
        body,
        next: None,
    };
    let missing = || Answer {
        found: false,
        body: json!({"error": "not_found", "error_description": "no such object"}),
        next: None,
    };
    Ok(match request {
        Request::Users(query, page) => {
            let users = dir.users(query).await?;
            let (slice, next) = paginate(&users, &page, |u| &u.username);
            Answer {
                found: true,
                body: Value::Array(slice.iter().map(user_json).collect()),
                next,
            }
        }
        Request::User(id) => match dir.users(UserQuery::Id(id)).await?.first() {
            Some(u) => found(user_json(u)),
            None => missing(),
        },
        Request::UserGroups(id) => match dir.users(UserQuery::Id(id)).await?.first() {
            Some(u) => found(groups_json(&dir.groups_of(u).await?)),
            None => missing(),
        },
        Request::Groups(query, page) => {
            let groups = dir.groups(query).await?;
            let (slice, next) = paginate(&groups, &page, |g| &g.name);
            Answer {
                found: true,
                body: Value::Array(slice.iter().map(group_json).collect()),
                next,
            }
        }
        Request::Group(id) => match by_group_id(dir, id).await? {
            Some(g) => found(group_json(&g)),
            None => missing(),
        },
        Request::GroupMembers(id) => match by_group_id(dir, id).await? {
            Some(g) => {
                let members = dir.members_of(&g).await?;
                found(Value::Array(members.iter().map(user_json).collect()))
            }
            None => missing(),
        },
        Request::Initgroups(name) => {
            let users = dir.users(UserQuery::Name { name, exact: true }).await?;
            match users.first() {
                Some(u) => {
                    let groups = dir.groups_of(u).await?;
                    found(json!({"user": user_json(u), "groups": groups_json(&groups)}))
                }
                None => missing(),
            }
        }
    })
}

async fn by_group_id(dir: &Directory, id: String) -> Result<Option<Group>, DirectoryError> {
    Ok(dir
        .groups(GroupQuery::Name {
            name: id,
            exact: true,
        })
        .await?
        .first()
        .cloned())
}

/// A user as JSON.
pub fn user_json(u: &User) -> Value {
    let mut v = json!({
        "id": u.id,
        "username": u.username,
        "enabled": u.enabled,
    });
    if let Value::Object(m) = &mut v {
        if let Some(n) = u.uid_number {
            m.insert("uidNumber".into(), n.into());
        }
        if let Some(n) = u.gid_number {
            m.insert("gidNumber".into(), n.into());
        }
        for (k, val) in [
            ("homeDirectory", &u.home_directory),
            ("loginShell", &u.login_shell),
            ("gecos", &u.gecos),
        ] {
            if let Some(s) = val {
                m.insert(k.into(), s.clone().into());
            }
        }
    }
    v
}

/// A group as JSON (never with `username`).
pub fn group_json(g: &Group) -> Value {
    let mut v = json!({
        "id": g.name,
        "name": g.name,
        "path": format!("/{}", g.name),
    });
    if let Value::Object(m) = &mut v {
        if let Some(n) = g.gid_number {
            m.insert("gidNumber".into(), n.into());
        }
        if let Some(d) = &g.description {
            m.insert("description".into(), d.clone().into());
        }
    }
    v
}

fn groups_json(groups: &[Group]) -> Value {
    Value::Array(groups.iter().map(group_json).collect())
}

/// The encoded cursor for a name.
pub fn cursor(name: &str) -> String {
    URL_SAFE_NO_PAD.encode(name.as_bytes())
}

fn paginate<'a, T>(
    items: &'a [T],
    page: &Page,
    name: impl Fn(&T) -> &String,
) -> (&'a [T], Option<String>) {
    let start = match &page.after {
        None => 0,
        Some(after) => items.partition_point(|i| name(i).as_str() <= after.as_str()),
    };
    let rest = items.get(start..).unwrap_or_default();
    match page.max {
        Some(max) if rest.len() > max => {
            let slice = rest.get(..max).unwrap_or_default();
            let next = slice.last().map(|i| cursor(name(i)));
            (slice, next)
        }
        _ => (rest, None),
    }
}

fn number(v: &str, key: &str) -> Result<u32, String> {
    v.parse()
        .map_err(|_| format!("{key} must be a number from 0 to 4294967295"))
}

struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: &str) -> Result<Self, String> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for (i, (k, _)) in pairs.iter().enumerate() {
            if pairs.iter().skip(i + 1).any(|(other, _)| other == k) {
                return Err(format!("the {k} parameter is repeated"));
            }
        }
        Ok(Self(pairs))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, key: &str) -> Result<bool, String> {
        match self.get(key) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(format!("{key} must be true or false")),
        }
    }

    fn page(&self) -> Result<Page, String> {
        let max = match self.get("max") {
            None => None,
            Some(m) => match m.parse::<usize>() {
                Ok(n) if n > 0 => Some(n),
                _ => return Err("max must be a positive number".into()),
            },
        };
        let after = match self.get("after") {
            None => None,
            Some(c) => Some(
                URL_SAFE_NO_PAD
                    .decode(c)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or("after is not a cursor from a Link header")?,
            ),
        };
        Ok(Page { max, after })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_sssd_sends() {
        assert_eq!(
            parse("users", Some("username=alice&exact=true")).unwrap(),
            Request::Users(
                UserQuery::Name {
                    name: "alice".into(),
                    exact: true
                },
                Page::default()
            )
        );
        assert_eq!(
            parse(
                "groups",
                Some("search=admins&exact=true&populateHierarchy=false&briefRepresentation=false")
            )
            .unwrap(),
            Request::Groups(
                GroupQuery::Name {
                    name: "admins".into(),
                    exact: true
                },
                Page::default()
            )
        );
        assert_eq!(
            parse(
                "users/alice@TEST.REALM/groups",
                Some("briefRepresentation=false")
            )
            .unwrap(),
            Request::UserGroups("alice@TEST.REALM".into())
        );
        assert_eq!(
            parse("users/alice%40TEST.REALM/groups", None).unwrap(),
            Request::UserGroups("alice@TEST.REALM".into())
        );
        assert_eq!(
            parse("groups/admins/members", None).unwrap(),
            Request::GroupMembers("admins".into())
        );
    }

    #[test]
    fn special_characters_arrive_decoded_and_intact() {
        assert_eq!(
            parse("users", Some("username=a%2A%28b%29%5C%00&exact=true")).unwrap(),
            Request::Users(
                UserQuery::Name {
                    name: "a*(b)\\\0".into(),
                    exact: true
                },
                Page::default()
            )
        );
    }

    #[test]
    fn refuses_repeated_and_malformed_parameters() {
        assert!(parse("users", Some("username=a&username=b")).is_err());
        assert!(parse("users", Some("exact=maybe")).is_err());
        assert!(parse("users", Some("uidNumber=-1")).is_err());
        assert!(parse("users", Some("max=0")).is_err());
        assert!(parse("users", Some("after=%%%")).is_err());
        assert!(parse("nope", None).is_err());
        assert!(parse("users/a/b/c", None).is_err());
    }

    #[test]
    fn pages_follow_the_cursor() {
        let names: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let page = Page {
            max: Some(2),
            after: None,
        };
        let (first, next) = paginate(&names, &page, |s| s);
        assert_eq!(first, ["a", "b"]);
        let after = URL_SAFE_NO_PAD.decode(next.unwrap()).unwrap();
        let page = Page {
            max: Some(2),
            after: Some(String::from_utf8(after).unwrap()),
        };
        assert_eq!(paginate(&names, &page, |s| s).0, ["c", "d"]);
        let page = Page {
            max: Some(2),
            after: Some("d".into()),
        };
        let (last, next) = paginate(&names, &page, |s| s);
        assert_eq!(last, ["e"]);
        assert_eq!(next, None);
    }

    #[test]
    fn groups_never_carry_username() {
        let g = Group {
            dn: "cn=admins".into(),
            name: "admins".into(),
            gid_number: Some(1000),
            description: None,
            members: vec![],
        };
        let v = group_json(&g);
        assert!(v.get("username").is_none());
        assert_eq!(v["id"], "admins");
        assert_eq!(v["gidNumber"], 1000);
    }
}
