//! The user directory: who may log in, with what, and the profile data later
//! services (directory search, user profile) serve.
//!
//! The file format is documented in the crate docs. Unknown fields are kept
//! in [`UserRecord::extra`] (and written back), so later features can add
//! per-user data (voicemail counts, contacts, ...) without a format change.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::tokens::TokenKind;

/// One user of the directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    /// The user id as it appears in REST paths, e.g. `alice@example.com`.
    /// Looked up ASCII-case-insensitively.
    pub username: String,
    /// The Basic password; a user without one can only use HMAC or tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Extra login names accepted in the Basic header instead of the username
    /// (the SDK's `authname`, 01-session §3), with the same password.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authnames: Vec<String>,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Telephone numbers, E.164.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phone_numbers: Vec<String>,
    /// Picture URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_url: Option<String>,
    /// The key of the user's HMAC tokens ([`crate::hmac_token`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_secret: Option<String>,
    /// Tokens valid from start-up, in addition to minted ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<ProvisionedToken>,
    /// Every field this version does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl UserRecord {
    /// A user with a username and password and nothing else.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: Some(password.into()),
            authnames: Vec::new(),
            first_name: None,
            last_name: None,
            email: None,
            phone_numbers: Vec::new(),
            photo_url: None,
            hmac_secret: None,
            tokens: Vec::new(),
            extra: Map::new(),
        }
    }
}

/// A token listed in the users file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionedToken {
    /// What the token is.
    pub kind: TokenKind,
    /// The token text.
    pub value: String,
    /// Epoch milliseconds after which it is expired; `null` = never.
    #[serde(default)]
    pub expires_at_ms: Option<u64>,
}

/// The on-disk shape of a users file: `{"users":[...]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UsersFile {
    /// The users.
    pub users: Vec<UserRecord>,
    /// Top-level fields this version does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Why a users file was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum UsersError {
    /// The text is not JSON of the users-file shape.
    #[error("users file is not valid: {message}")]
    Json {
        /// The parser's message.
        message: String,
    },
    /// A user has an empty username.
    #[error("user #{index} has an empty username")]
    EmptyUsername {
        /// Position in the `users` array.
        index: usize,
    },
    /// Two users share a username, or a login name (username or authname) is
    /// used twice (compared ASCII-case-insensitively).
    #[error("login name {name:?} is used more than once")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A provisioned token is empty or listed twice.
    #[error("token of user {user:?} is empty or listed twice")]
    BadToken {
        /// The owner.
        user: String,
    },
}

/// The user directory, indexed by username and by login name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "UsersFile", into = "UsersFile")]
pub struct Users {
    file: UsersFile,
    /// lower-case username -> index
    by_name: HashMap<String, usize>,
    /// lower-case username or authname -> index
    by_login: HashMap<String, usize>,
    /// digits of a phone number -> index (the first user listing it wins);
    /// resolves `tel:` call destinations (02-calls §2.16).
    by_phone: HashMap<String, usize>,
}

impl Users {
    /// Builds the directory, refusing duplicate names and tokens.
    pub fn new(users: Vec<UserRecord>) -> Result<Self, UsersError> {
        Self::try_from(UsersFile {
            users,
            extra: Map::new(),
        })
    }

    /// Parses a users file (format in the crate docs).
    pub fn from_json(text: &str) -> Result<Self, UsersError> {
        let file: UsersFile = serde_json::from_str(text).map_err(|e| UsersError::Json {
            message: e.to_string(),
        })?;
        Self::try_from(file)
    }

    /// The file form, pretty-printed.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.file).unwrap_or_default()
    }

    /// alice, bob and carol `@example.com`, passwords `alice`, `bob`,
    /// `carol`, HMAC secrets `alice-secret`, ..., and authnames
    /// `alice.auth`, ...: enough for a demo and for tests.
    pub fn builtin() -> Self {
        let people = [
            ("alice", "Alice", "Liddell", "+15550100"),
            ("bob", "Bob", "Ross", "+15550101"),
            ("carol", "Carol", "Danvers", "+15550102"),
        ];
        let users = people
            .iter()
            .map(|(name, first, last, phone)| {
                let username = format!("{name}@example.com");
                UserRecord {
                    authnames: vec![format!("{name}.auth")],
                    first_name: Some((*first).to_owned()),
                    last_name: Some((*last).to_owned()),
                    email: Some(username.clone()),
                    phone_numbers: vec![(*phone).to_owned()],
                    photo_url: Some(format!("https://example.com/photos/{name}.png")),
                    hmac_secret: Some(format!("{name}-secret")),
                    ..UserRecord::new(username, *name)
                }
            })
            .collect();
        // The names above are distinct, so this cannot fail; an empty
        // directory is the harmless fallback.
        Self::new(users).unwrap_or_else(|_| Self::empty())
    }

    /// A directory without users.
    pub fn empty() -> Self {
        Self {
            file: UsersFile::default(),
            by_name: HashMap::new(),
            by_login: HashMap::new(),
            by_phone: HashMap::new(),
        }
    }

    /// A user by username, ASCII-case-insensitively.
    pub fn get(&self, username: &str) -> Option<&UserRecord> {
        self.by_name
            .get(&username.to_ascii_lowercase())
            .and_then(|&i| self.file.users.get(i))
    }

    /// The user a Basic login name (username or authname) belongs to.
    pub fn by_login(&self, login: &str) -> Option<&UserRecord> {
        self.by_login
            .get(&login.to_ascii_lowercase())
            .and_then(|&i| self.file.users.get(i))
    }

    /// The user with a phone number whose digits are `digits` (the first
    /// in file order if several list it).
    pub(crate) fn by_phone(&self, digits: &str) -> Option<&UserRecord> {
        self.by_phone
            .get(digits)
            .and_then(|&i| self.file.users.get(i))
    }

    /// All users in file order.
    pub fn iter(&self) -> impl Iterator<Item = &UserRecord> {
        self.file.users.iter()
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.file.users.len()
    }

    /// Whether there is no user.
    pub fn is_empty(&self) -> bool {
        self.file.users.is_empty()
    }
}

impl Default for Users {
    fn default() -> Self {
        Self::builtin()
    }
}

impl TryFrom<UsersFile> for Users {
    type Error = UsersError;

    fn try_from(file: UsersFile) -> Result<Self, UsersError> {
        let mut by_name = HashMap::new();
        let mut by_login = HashMap::new();
        let mut by_phone = HashMap::new();
        let mut tokens = std::collections::HashSet::new();
        for (index, user) in file.users.iter().enumerate() {
            if user.username.is_empty() {
                return Err(UsersError::EmptyUsername { index });
            }
            let key = user.username.to_ascii_lowercase();
            if by_name.insert(key, index).is_some() {
                return Err(UsersError::DuplicateName {
                    name: user.username.clone(),
                });
            }
            for login in std::iter::once(&user.username).chain(&user.authnames) {
                if login.is_empty() || by_login.insert(login.to_ascii_lowercase(), index).is_some()
                {
                    return Err(UsersError::DuplicateName {
                        name: login.clone(),
                    });
                }
            }
            for phone in &user.phone_numbers {
                if let Some(digits) = crate::callreq::phone_digits(phone) {
                    by_phone.entry(digits).or_insert(index);
                }
            }
            for token in &user.tokens {
                if token.value.is_empty() || !tokens.insert(token.value.as_str()) {
                    return Err(UsersError::BadToken {
                        user: user.username.clone(),
                    });
                }
            }
        }
        Ok(Self {
            file,
            by_name,
            by_login,
            by_phone,
        })
    }
}

impl From<Users> for UsersFile {
    fn from(users: Users) -> Self {
        users.file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_three_users() {
        let u = Users::builtin();
        assert_eq!(u.len(), 3);
        let alice = u.get("ALICE@example.com").map(|r| r.username.as_str());
        assert_eq!(alice, Some("alice@example.com"));
        assert_eq!(
            u.by_login("alice.auth").map(|r| r.username.as_str()),
            Some("alice@example.com")
        );
        assert_eq!(
            u.get("bob@example.com").and_then(|r| r.password.as_deref()),
            Some("bob")
        );
    }

    #[test]
    fn unknown_fields_are_kept() {
        let text =
            r#"{"users":[{"username":"a@x","password":"p","voicemail":{"new":2}}],"version":1}"#;
        let u = Users::from_json(text).expect("valid");
        assert_eq!(
            u.get("a@x").and_then(|r| r.extra.get("voicemail")),
            Some(&serde_json::json!({"new":2}))
        );
        let back: serde_json::Value = serde_json::from_str(&u.to_json()).expect("json");
        assert_eq!(back["version"], 1);
        assert_eq!(back["users"][0]["voicemail"]["new"], 2);
    }

    #[test]
    fn duplicates_and_garbage_are_refused() {
        assert!(matches!(
            Users::from_json("{"),
            Err(UsersError::Json { .. })
        ));
        assert!(matches!(
            Users::from_json(r#"{"users":[{"username":"a"},{"username":"A"}]}"#),
            Err(UsersError::DuplicateName { .. })
        ));
        assert!(matches!(
            Users::from_json(r#"{"users":[{"username":"a","authnames":["b"]},{"username":"b"}]}"#),
            Err(UsersError::DuplicateName { .. })
        ));
        assert!(matches!(
            Users::from_json(r#"{"users":[{"username":""}]}"#),
            Err(UsersError::EmptyUsername { index: 0 })
        ));
        let dup_token = r#"{"users":[
            {"username":"a","tokens":[{"kind":"access","value":"t"}]},
            {"username":"b","tokens":[{"kind":"oauth","value":"t","expiresAtMs":5}]}]}"#;
        assert!(matches!(
            Users::from_json(dup_token),
            Err(UsersError::BadToken { .. })
        ));
    }
}
