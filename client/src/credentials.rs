//! Machine-key credentials for the Meshes management API, with the secret key kept out of
//! every `Debug`, `Display`, log line and error message.

use std::fmt;

/// Why a set of credentials was refused before any request was made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// One of the three parts is empty (after trimming surrounding whitespace).
    #[error("Meshes credentials are incomplete: {0} is empty")]
    Missing(&'static str),
    /// A part contains a character that cannot appear in a Meshes identifier.
    #[error("Meshes credentials are malformed: {0} contains whitespace or control characters")]
    Malformed(&'static str),
}

/// The secret half of a machine key. It never prints; its bytes are read only by the JWT
/// signer and by callers that must notice a rotation without keeping the value (the operator
/// hashes it, in memory, into a credentials fingerprint).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    /// The raw UTF-8 bytes used as the HS256 key (Meshes does not base64-decode it). Secret:
    /// never log, format or store them.
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// A Meshes machine key and the organization it acts for.
///
/// The access key is an identifier (it travels in every JWT header as `kid`) and is shown in
/// `Debug` and `Display`; the secret key never is.
///
/// An optional *share* label ([`Credentials::with_share`]) splits the request budget of the
/// key fairly between the callers that use it (see the budget rules on [`crate::BudgetRegistry`]);
/// it is never sent to Meshes. So is the *priority* ([`Credentials::with_priority`]): which of
/// the key's waiting callers goes first. Equality compares both too.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key: String,
    secret_key: SecretKey,
    org_id: String,
    share: Option<String>,
    priority: u8,
}

impl Credentials {
    /// Builds credentials from the three values a user stores in a Kubernetes Secret.
    ///
    /// Surrounding whitespace is trimmed because Secrets created with `echo` (without `-n`)
    /// carry a trailing newline that would otherwise turn into a confusing 401.
    pub fn new(
        access_key: impl AsRef<str>,
        secret_key: impl AsRef<str>,
        org_id: impl AsRef<str>,
    ) -> Result<Self, CredentialsError> {
        let access_key = clean(access_key.as_ref(), "access key")?;
        let secret_key = clean(secret_key.as_ref(), "secret key")?;
        let org_id = clean(org_id.as_ref(), "organization id")?;
        Ok(Self {
            access_key,
            secret_key: SecretKey(secret_key),
            org_id,
            share: None,
            priority: 0,
        })
    }

    /// The same credentials, drawing on the key's budget as the share `label` (for example
    /// the namespace of a tenant on shared default credentials). Calls with the same key and
    /// different shares get fair turns at the key's rate and concurrency; calls without a
    /// share form one share of their own. An empty label means no share.
    pub fn with_share(mut self, label: impl Into<String>) -> Self {
        let label = label.into();
        self.share = (!label.is_empty()).then_some(label);
        self
    }

    /// The same credentials, admitted by the key's budget before every waiting caller with a
    /// higher `priority` number (0, the default, is the most urgent); among callers of equal
    /// priority the shares and FIFO order apply (see [`crate::BudgetRegistry`]).
    pub fn with_priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    /// The budget priority ([`Credentials::with_priority`]; lower is admitted first).
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// The share label, when set ([`Credentials::with_share`]).
    pub fn share(&self) -> Option<&str> {
        self.share.as_deref()
    }

    /// The access key (`mk_…`), also the budget identity of these credentials.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The organization the calls apply to (the JWT `org` claim).
    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    /// The secret key (redacted in `Debug`; see [`SecretKey::expose_bytes`]).
    pub fn secret_key(&self) -> &SecretKey {
        &self.secret_key
    }
}

fn clean(value: &str, what: &'static str) -> Result<String, CredentialsError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(CredentialsError::Missing(what));
    }
    if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CredentialsError::Malformed(what));
    }
    Ok(trimmed.to_owned())
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &self.secret_key)
            .field("org_id", &self.org_id)
            .field("share", &self.share)
            .field("priority", &self.priority)
            .finish()
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "access key {} (org {})", self.access_key, self.org_id)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SECRET: &str = "s3cr3t-VALUE-abcdefghijklmnopqrstuvwxyz0123456789";

    #[test]
    fn debug_and_display_redact_the_secret_but_show_the_identity() {
        let creds = Credentials::new("mk_abcdefghijklmnopqrstuv", SECRET, "org-1").unwrap();
        let debug = format!("{creds:?}");
        let pretty = format!("{creds:#?}");
        let display = creds.to_string();
        for text in [&debug, &pretty, &display] {
            assert!(!text.contains(SECRET), "secret leaked: {text}");
            // Positive control: the formatting is not simply empty.
            assert!(text.contains("mk_abcdefghijklmnopqrstuv"), "{text}");
            assert!(text.contains("org-1"), "{text}");
        }
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn values_are_trimmed_and_empty_or_spaced_values_refused() {
        let creds = Credentials::new(" mk_a\n", "secret\n", "org\r\n").unwrap();
        assert_eq!(creds.access_key(), "mk_a");
        assert_eq!(creds.secret_key().expose_bytes(), b"secret");
        assert_eq!(creds.org_id(), "org");
        assert_eq!(
            Credentials::new("mk_a", "  ", "org"),
            Err(CredentialsError::Missing("secret key"))
        );
        assert_eq!(
            Credentials::new("mk a", "s", "org"),
            Err(CredentialsError::Malformed("access key"))
        );
    }
}
