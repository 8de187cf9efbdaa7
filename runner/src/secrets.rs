//! The node's secret store: values that a policy names (`secret("aws-key")`)
//! but never holds. Each secret is one file, `STATE/secrets/NAME`, mode 0600
//! in a directory of mode 0700, written by `halo secret set` on the node.
//! The runner reads a secret only when it runs the action that needs it, puts
//! it in the agent's environment or standard input (never in its arguments),
//! and masks it in what the agent printed.

use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

/// Longest secret value kept (a key or a password, not a file).
pub const VALUE_MAX: usize = 64 * 1024;

/// What can go wrong with the store.
#[derive(Debug, PartialEq, Eq)]
pub enum SecretError {
    /// The name is not one a file may carry.
    BadName(String),
    /// The value is too long, or holds a NUL byte (no agent can receive it).
    BadValue(String),
    /// No such secret on this node.
    Missing(String),
    Io(String),
}

impl std::fmt::Display for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretError::BadName(n) => write!(
                f,
                "`{n}` is not a secret name: use letters, digits, `-`, `_` and `.` \
                 (not first), at most 128 of them"
            ),
            SecretError::BadValue(why) => f.write_str(why),
            SecretError::Missing(n) => write!(
                f,
                "secret `{n}` is not in this node's store: set it on the node with \
                 `halo secret set {n} --config NODE.toml` (the value on standard input)"
            ),
            SecretError::Io(why) => f.write_str(why),
        }
    }
}

/// The store in a runner's state directory.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

/// Whether `name` can name a secret (and a file).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Store {
    /// The store of the runner whose state directory is `state_dir`.
    pub fn new(state_dir: &Path) -> Store {
        Store {
            dir: state_dir.join("secrets"),
        }
    }

    fn path(&self, name: &str) -> Result<PathBuf, SecretError> {
        if valid_name(name) {
            Ok(self.dir.join(name))
        } else {
            Err(SecretError::BadName(name.to_string()))
        }
    }

    /// A secret's value.
    pub fn get(&self, name: &str) -> Result<String, SecretError> {
        let path = self.path(name)?;
        match std::fs::read(&path) {
            Ok(b) => String::from_utf8(b).map_err(|_| {
                SecretError::BadValue(format!("{} is not UTF-8 text", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(SecretError::Missing(name.to_string()))
            }
            Err(e) => Err(SecretError::Io(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// Keeps `value` as secret `name`, readable by this user only; replaces
    /// an earlier value whole (a reader never sees half of it).
    pub fn set(&self, name: &str, value: &str) -> Result<(), SecretError> {
        let path = self.path(name)?;
        if value.len() > VALUE_MAX {
            return Err(SecretError::BadValue(format!(
                "the value is {} bytes; a secret holds at most {VALUE_MAX}",
                value.len()
            )));
        }
        if value.contains('\0') {
            return Err(SecretError::BadValue(
                "the value holds a NUL byte, which no agent can receive".into(),
            ));
        }
        let io = |e: std::io::Error, p: &Path| SecretError::Io(format!("{}: {e}", p.display()));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| io(e, &self.dir))?;
        crate::write_synced(&path, value.as_bytes(), 0o600).map_err(|e| io(e, &path))
    }

    /// Removes a secret; whether there was one.
    pub fn remove(&self, name: &str) -> Result<bool, SecretError> {
        let path = self.path(name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(SecretError::Io(format!(
                "cannot remove {}: {e}",
                path.display()
            ))),
        }
    }

    /// The names of the secrets kept, sorted.
    pub fn names(&self) -> Result<Vec<String>, SecretError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(SecretError::Io(format!(
                    "cannot list {}: {e}",
                    self.dir.display()
                )))
            }
        };
        let mut out: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| valid_name(n))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Of `names`, those this store lacks.
    pub fn missing<'a>(&self, names: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        names
            .into_iter()
            .filter(|n| {
                matches!(
                    self.get(n),
                    Err(SecretError::Missing(_) | SecretError::BadName(_))
                )
            })
            .cloned()
            .collect()
    }

    /// The values of a request's secrets (parameter → secret name) that can
    /// be read, and why each of the others cannot.
    pub fn resolve(
        &self,
        wanted: &BTreeMap<String, String>,
    ) -> (BTreeMap<String, String>, Vec<SecretError>) {
        let mut values = BTreeMap::new();
        let mut errors = Vec::new();
        for (param, name) in wanted {
            match self.get(name) {
                Ok(v) => {
                    values.insert(param.clone(), v);
                }
                Err(e) => errors.push(e),
            }
        }
        (values, errors)
    }
}

/// `text` with every secret value replaced by `***` (agents may print what
/// they were given).
pub fn mask(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for v in values.values().filter(|v| v.len() >= 3) {
        if out.contains(v.as_str()) {
            out = out.replace(v.as_str(), "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn set_get_list_remove_with_private_modes() {
        let dir = std::env::temp_dir().join(format!("halo-secrets-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = Store::new(&dir);
        assert_eq!(s.get("k"), Err(SecretError::Missing("k".into())));
        s.set("aws-key", "AKIA\nline two").unwrap();
        assert_eq!(s.get("aws-key").unwrap(), "AKIA\nline two");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join("secrets")), 0o700);
        assert_eq!(mode(&dir.join("secrets").join("aws-key")), 0o600);
        assert_eq!(s.names().unwrap(), vec!["aws-key".to_string()]);
        for bad in ["", "../x", ".hidden", "a/b", "a b"] {
            assert!(
                matches!(s.set(bad, "v"), Err(SecretError::BadName(_))),
                "{bad}"
            );
        }
        assert!(matches!(s.set("n", "a\0b"), Err(SecretError::BadValue(_))));
        assert!(s.remove("aws-key").unwrap());
        assert!(!s.remove("aws-key").unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn values_are_masked() {
        let v = BTreeMap::from([("p".to_string(), "hunter2".to_string())]);
        assert_eq!(mask("login hunter2 ok", &v), "login *** ok");
    }
}
