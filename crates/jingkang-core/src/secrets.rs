//! The deployment's master key (SPEC §10: the key lives outside the database). One file of 32
//! random bytes in hex, readable by its owner only (0600), named by `--key-file` /
//! `JINGKANG_KEY_FILE`; `init` and a first `serve` create one in the data directory when none is
//! given. Every use derives its own sub-key from it (HMAC-SHA256 of the master key and a label):
//! the audit witness's checkpoints, and — with encryption at rest — the cipher and blind indexes.
//! The key never appears in logs or `Debug` output.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use hmac::{Hmac, Mac};
use rand::RngCore;

type HmacSha256 = Hmac<sha2::Sha256>;

/// The master key.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key file {0} cannot be read")]
    Unreadable(String),
    #[error("the key file {0} is not 64 hexadecimal characters")]
    Malformed(String),
    #[error("the key file {0} is readable by others than its owner")]
    Exposed(String),
}

impl KeyError {
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::Unreadable(_) => "key-unreadable",
            KeyError::Malformed(_) => "key-malformed",
            KeyError::Exposed(_) => "key-exposed",
        }
    }
    pub fn message_zh(&self) -> String {
        let file = match self {
            KeyError::Unreadable(f) | KeyError::Malformed(f) | KeyError::Exposed(f) => f,
        };
        crate::messages::render(self.code(), &[("file", file)])
    }
}

impl MasterKey {
    /// A new random key (not yet saved).
    pub fn generate() -> MasterKey {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        MasterKey(k)
    }

    /// Read the key file.
    pub fn load(path: &Path) -> Result<MasterKey, KeyError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|_| KeyError::Unreadable(shown.clone()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|_| KeyError::Unreadable(shown.clone()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(KeyError::Exposed(shown));
            }
        }
        let bytes = hex::decode(text.trim()).map_err(|_| KeyError::Malformed(shown.clone()))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Malformed(shown))?;
        Ok(MasterKey(key))
    }

    /// Write a new key file readable by its owner only; refuses to replace an existing file.
    pub fn create(path: &Path) -> anyhow::Result<MasterKey> {
        let key = MasterKey::generate();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options
            .open(path)
            .with_context(|| format!("creating the key file {}", path.display()))?;
        writeln!(f, "{}", hex::encode(key.0))?;
        f.sync_all()?;
        Ok(key)
    }

    /// The key of `path`, created there when the file does not exist (returns whether it was).
    pub fn load_or_create(path: &Path) -> anyhow::Result<(MasterKey, bool)> {
        if path.exists() {
            Ok((MasterKey::load(path).map_err(anyhow::Error::new)?, false))
        } else {
            Ok((MasterKey::create(path)?, true))
        }
    }

    /// The sub-key for one use, named by `label`.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.0).expect("any key length");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// HMAC-SHA256 of `data` under the sub-key `label`, in hex.
    pub fn mac_hex(&self, label: &str, data: &[u8]) -> String {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.derive(label)).expect("any key length");
        mac.update(data);
        hex::encode(mac.finalize().into_bytes())
    }

    /// A fingerprint of the key that says nothing about it, kept in the database so that a
    /// database opened with another key is refused.
    pub fn fingerprint(&self) -> String {
        self.mac_hex("fingerprint", b"jingkang")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_round_trips_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let (k, created) = MasterKey::load_or_create(&path).unwrap();
        assert!(created);
        let (again, created) = MasterKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(k.fingerprint(), again.fingerprint());
        assert_ne!(k.derive("a"), k.derive("b"));
        assert_eq!(format!("{k:?}"), "MasterKey(…)");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(MasterKey::load(&path), Err(KeyError::Exposed(_))));
        }
        std::fs::write(dir.path().join("bad"), "xyz").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let private = std::fs::Permissions::from_mode(0o600);
            std::fs::set_permissions(dir.path().join("bad"), private).unwrap();
        }
        assert!(matches!(
            MasterKey::load(&dir.path().join("bad")),
            Err(KeyError::Malformed(_))
        ));
    }
}
