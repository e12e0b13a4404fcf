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

/// The keys a database is read and written with: the master key's cipher and blind-index
/// sub-keys, and during a rotation the previous key's too (values sealed under it still open).
/// Cheap to clone. Without a key (`Keys::none`), sealing and opening fail: nothing sensitive is
/// ever written in the clear by mistake.
#[derive(Clone, Default)]
pub struct Keys(Option<std::sync::Arc<Ring>>);

struct Ring {
    current: Sealer,
    previous: Option<Sealer>,
}

/// One master key's cipher and index key.
struct Sealer {
    /// The first 4 bytes of the key's fingerprint: which key sealed a value.
    id: [u8; 4],
    cipher: aes_gcm::Aes256Gcm,
    index: [u8; 32],
}

impl Sealer {
    fn of(key: &MasterKey) -> Sealer {
        use aes_gcm::KeyInit;
        let fp = hex::decode(key.fingerprint()).unwrap_or_default();
        let mut id = [0u8; 4];
        id.copy_from_slice(&fp[..4]);
        Sealer {
            id,
            cipher: aes_gcm::Aes256Gcm::new_from_slice(&key.derive("seal/aes-256-gcm/v1"))
                .expect("a 32-byte key"),
            index: key.derive("blind-index/v1"),
        }
    }
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Keys(none)"),
            Some(r) => write!(
                f,
                "Keys({}{})",
                hex::encode(r.current.id),
                if r.previous.is_some() {
                    ", rotating"
                } else {
                    ""
                }
            ),
        }
    }
}

/// What a sealed value starts with (then base64 of key id, nonce, ciphertext and tag).
pub const SEALED_PREFIX: &str = "jk1:";

/// What a blind index is of: a value's kind and, for ID numbers, which part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// The whole (canonical) ID number: uniqueness, linkage, imports.
    IdNumber,
    /// Its first 6 characters (the region of issue).
    IdFirst6,
    /// Its first 14 characters (region and birth date).
    IdFirst14,
    /// Its last 4 characters (what a masked ID shows).
    IdLast4,
    /// A diagnosis's ICD-10 category (its first 3 characters, upper-cased).
    Diagnosis3,
}

impl Index {
    fn label(self) -> &'static [u8] {
        match self {
            Index::IdNumber => b"id",
            Index::IdFirst6 => b"id6",
            Index::IdFirst14 => b"id14",
            Index::IdLast4 => b"id-4",
            Index::Diagnosis3 => b"dx3",
        }
    }
}

/// A sealed value that does not open: another key's, altered, or moved to another column.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("no key: sensitive values cannot be sealed or opened")]
    NoKey,
    #[error("a sealed value of {0} does not open with this key (altered, moved or another key's)")]
    DoesNotOpen(&'static str),
}

impl Keys {
    /// No key: every seal and open fails.
    pub fn none() -> Keys {
        Keys(None)
    }

    /// The keys of one master key.
    pub fn of(key: &MasterKey) -> Keys {
        Keys(Some(std::sync::Arc::new(Ring {
            current: Sealer::of(key),
            previous: None,
        })))
    }

    /// The keys during a rotation from `old` to `new`: sealing under `new`, opening under both.
    pub fn rotating(old: &MasterKey, new: &MasterKey) -> Keys {
        Keys(Some(std::sync::Arc::new(Ring {
            current: Sealer::of(new),
            previous: Some(Sealer::of(old)),
        })))
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    fn ring(&self) -> Result<&Ring, SealError> {
        self.0.as_deref().ok_or(SealError::NoKey)
    }

    /// Seal `plain`, a value of `column` (`persons.id_number`): AES-256-GCM under a random nonce,
    /// the column name as associated data, so a value moved to another column does not open.
    pub fn seal(&self, column: &'static str, plain: &str) -> Result<String, SealError> {
        use aes_gcm::aead::{Aead, Payload};
        use base64::Engine;
        let r = self.ring()?;
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = r
            .current
            .cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plain.as_bytes(),
                    aad: column.as_bytes(),
                },
            )
            .map_err(|_| SealError::DoesNotOpen(column))?;
        let mut bytes = Vec::with_capacity(4 + 12 + sealed.len());
        bytes.extend_from_slice(&r.current.id);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Ok(format!(
            "{SEALED_PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
        ))
    }

    /// Seal an optional value (absent stays absent).
    pub fn seal_opt(
        &self,
        column: &'static str,
        plain: Option<&str>,
    ) -> Result<Option<String>, SealError> {
        plain.map(|p| self.seal(column, p)).transpose()
    }

    /// Whether `stored` is sealed (else it is a value written before encryption, not yet sealed).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(SEALED_PREFIX)
    }

    /// Whether `stored` is sealed under the current key (a rotation skips these).
    pub fn is_current(&self, stored: &str) -> bool {
        use base64::Engine;
        let (Ok(r), Some(b64)) = (self.ring(), stored.strip_prefix(SEALED_PREFIX)) else {
            return false;
        };
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(b64.get(..8).unwrap_or_default())
            .is_ok_and(|b| b.get(..4) == Some(&r.current.id[..]))
    }

    /// Open a value of `column`. A value written before encryption (not sealed) comes back as it
    /// is: the migration seals those in batches, and reading stays right meanwhile.
    pub fn open(&self, column: &'static str, stored: &str) -> Result<String, SealError> {
        use aes_gcm::aead::{Aead, Payload};
        use base64::Engine;
        let Some(b64) = stored.strip_prefix(SEALED_PREFIX) else {
            return Ok(stored.to_string());
        };
        let r = self.ring()?;
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(b64)
            .map_err(|_| SealError::DoesNotOpen(column))?;
        if bytes.len() < 4 + 12 + 16 {
            return Err(SealError::DoesNotOpen(column));
        }
        let (id, rest) = bytes.split_at(4);
        let (nonce, sealed) = rest.split_at(12);
        let sealer = if id == r.current.id {
            &r.current
        } else {
            r.previous
                .as_ref()
                .filter(|p| p.id == id)
                .ok_or(SealError::DoesNotOpen(column))?
        };
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| SealError::DoesNotOpen(column))?;
        let plain = sealer
            .cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: sealed,
                    aad: column.as_bytes(),
                },
            )
            .map_err(|_| SealError::DoesNotOpen(column))?;
        String::from_utf8(plain).map_err(|_| SealError::DoesNotOpen(column))
    }

    /// Open an optional value.
    pub fn open_opt(
        &self,
        column: &'static str,
        stored: Option<&str>,
    ) -> Result<Option<String>, SealError> {
        stored.map(|s| self.open(column, s)).transpose()
    }

    /// The blind index of `value` (HMAC-SHA256 under the index key, 128 bits in hex): equal
    /// values have equal indexes, and nothing about the value can be learnt from one without the
    /// key.
    pub fn index(&self, kind: Index, value: &str) -> Result<String, SealError> {
        let r = self.ring()?;
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&r.current.index).expect("any key length");
        mac.update(kind.label());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        Ok(hex::encode(&mac.finalize().into_bytes()[..16]))
    }

    /// The four blind indexes of a canonical ID number: whole, first 6, first 14, last 4.
    pub fn id_indexes(&self, id_number: &str) -> Result<IdIndexes, SealError> {
        let part = |kind, from: usize, to: usize| {
            self.index(kind, id_number.get(from..to).unwrap_or(id_number))
        };
        let n = id_number.len();
        Ok(IdIndexes {
            whole: self.index(Index::IdNumber, id_number)?,
            first6: part(Index::IdFirst6, 0, 6.min(n))?,
            first14: part(Index::IdFirst14, 0, 14.min(n))?,
            last4: part(Index::IdLast4, n.saturating_sub(4), n)?,
        })
    }
}

/// The blind indexes of one ID number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdIndexes {
    pub whole: String,
    pub first6: String,
    pub first14: String,
    pub last4: String,
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

    #[test]
    fn sealed_values_open_only_with_their_key_and_column() {
        let k = MasterKey::generate();
        let keys = Keys::of(&k);
        let a = keys
            .seal("persons.id_number", "500110199001011236")
            .unwrap();
        let b = keys
            .seal("persons.id_number", "500110199001011236")
            .unwrap();
        assert!(Keys::is_sealed(&a) && a != b, "a random nonce each time");
        assert!(!a.contains("500110"));
        assert_eq!(
            keys.open("persons.id_number", &a).unwrap(),
            "500110199001011236"
        );
        assert!(keys.is_current(&a));
        // Moved to another column, altered, or opened with another key: refused.
        assert!(keys.open("persons.phone", &a).is_err());
        let mut altered = a.clone().into_bytes();
        let at = altered.len() - 3;
        altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
        assert!(
            keys.open("persons.id_number", &String::from_utf8(altered).unwrap())
                .is_err()
        );
        let other = Keys::of(&MasterKey::generate());
        assert!(other.open("persons.id_number", &a).is_err());
        assert!(!other.is_current(&a));
        // A value written before encryption reads as it is.
        assert_eq!(
            keys.open("persons.phone", "13800001111").unwrap(),
            "13800001111"
        );
        // No key: nothing is sealed or opened.
        assert!(matches!(
            Keys::none().seal("persons.phone", "1"),
            Err(SealError::NoKey)
        ));
        assert!(Keys::none().open("persons.phone", &a).is_err());
        // During a rotation both keys open, the new one seals.
        let new = MasterKey::generate();
        let rotating = Keys::rotating(&k, &new);
        assert_eq!(
            rotating.open("persons.id_number", &a).unwrap(),
            "500110199001011236"
        );
        assert!(!rotating.is_current(&a));
        let c = rotating.seal("persons.id_number", "x").unwrap();
        assert!(Keys::of(&new).open("persons.id_number", &c).is_ok());
        assert!(keys.open("persons.id_number", &c).is_err());
        assert_eq!(format!("{keys:?}").len(), "Keys(01234567)".len());
    }

    #[test]
    fn blind_indexes_are_keyed_and_per_part() {
        let k = Keys::of(&MasterKey::generate());
        let i = k.id_indexes("500110199001011236").unwrap();
        let j = k.id_indexes("500110199001011236").unwrap();
        assert_eq!(i, j);
        assert_eq!(i.whole.len(), 32);
        // The parts are the parts' indexes, and a part's index differs from the same text's as
        // another part ("1236" as last 4 is not "1236" as a whole).
        assert_eq!(i.first6, k.index(Index::IdFirst6, "500110").unwrap());
        assert_eq!(
            i.first14,
            k.index(Index::IdFirst14, "50011019900101").unwrap()
        );
        assert_eq!(i.last4, k.index(Index::IdLast4, "1236").unwrap());
        assert_ne!(k.index(Index::IdNumber, "1236").unwrap(), i.last4);
        let other = Keys::of(&MasterKey::generate());
        assert_ne!(
            other.id_indexes("500110199001011236").unwrap().whole,
            i.whole
        );
    }
}
