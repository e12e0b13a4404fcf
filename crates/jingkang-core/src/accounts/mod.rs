//! Accounts: roles, the password policy, password and token hashing.
//!
//! Storage lives in `store::accounts`; this module is pure rules, shared by the web server and the
//! command line (`jingkang user …`).

pub mod policy;

use rand::RngCore;
use sha2::{Digest, Sha256};

/// The roles of SPEC §1. A user has exactly one, bound to one region node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Civil,
    Township,
    Worker,
    Doctor,
    Hospital,
    Police,
    Disability,
    Health,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 10] = [
        Role::Admin,
        Role::Civil,
        Role::Township,
        Role::Worker,
        Role::Doctor,
        Role::Hospital,
        Role::Police,
        Role::Disability,
        Role::Health,
        Role::Auditor,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Civil => "civil",
            Role::Township => "township",
            Role::Worker => "worker",
            Role::Doctor => "doctor",
            Role::Hospital => "hospital",
            Role::Police => "police",
            Role::Disability => "disability",
            Role::Health => "health",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(code: &str) -> Option<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.code() == code.trim().to_ascii_lowercase())
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Role::Admin => "系统管理员",
            Role::Civil => "民政",
            Role::Township => "街镇",
            Role::Worker => "康复机构社工",
            Role::Doctor => "精防医生",
            Role::Hospital => "精神专科医院",
            Role::Police => "公安",
            Role::Disability => "残联",
            Role::Health => "卫健",
            Role::Auditor => "审计",
        }
    }

    /// Roles that must use a TOTP second factor (SPEC §10).
    pub fn requires_totp(self) -> bool {
        matches!(self, Role::Admin | Role::Civil | Role::Auditor)
    }
}

/// Why a new password is refused: a message code of `messages.rs`.
pub fn check_password_policy(username: &str, password: &str) -> Result<(), &'static str> {
    if password.chars().count() < 10 {
        return Err("password-too-short");
    }
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if classes.iter().filter(|&&b| b).count() < 3 {
        return Err("password-classes");
    }
    let user = username.trim().to_lowercase();
    if !user.is_empty() && password.to_lowercase().contains(&user) {
        return Err("password-contains-username");
    }
    // Guessable despite the rules (`Passw0rd!!`, keyboard walks, dates, the username's variants):
    // zxcvbn's estimate must reach 10¹⁰ guesses (score 3).
    if zxcvbn::zxcvbn(password, &[user.as_str(), "jingkang", "精康"]).score() < zxcvbn::Score::Three
    {
        return Err("password-guessable");
    }
    Ok(())
}

/// How long a password may be kept before it must be changed (SPEC §10; a deployment sets its
/// own with `serve --password-max-age-days`).
pub const PASSWORD_MAX_AGE_DAYS: i64 = 180;

/// A valid username: 3–32 characters of ASCII letters, digits, `.`, `_`, `-`.
pub fn check_username(username: &str) -> Result<(), &'static str> {
    let ok_len = (3..=32).contains(&username.len());
    if ok_len
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        Ok(())
    } else {
        Err("username-invalid")
    }
}

/// argon2id hash in PHC string form, with a fresh random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

/// Check `password` against a stored PHC string. A malformed hash is a mismatch.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(phc) {
        Ok(h) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash to compare against when the username does not exist, so that an unknown user costs as
/// much time as a wrong password (no user enumeration by timing).
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("dummy-Password-1").unwrap_or_default())
}

/// A fresh random secret (session, CSRF or API token): 32 random bytes, hex.
pub fn new_secret() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// How a secret is stored: SHA-256, hex. Secrets are 256-bit random, so no salt or slow hash is
/// needed; a copy of the table does not let anyone in.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A random initial password that satisfies the policy (for `user add` without one, and the demo).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    loop {
        let mut s = String::with_capacity(16);
        for i in 0..14 {
            if i > 0 && i % 5 == 4 {
                s.push('-');
                continue;
            }
            let idx = (rng.next_u32() as usize) % ALPHABET.len();
            s.push(ALPHABET[idx] as char);
        }
        if check_password_policy("", &s).is_ok() {
            return s;
        }
    }
}

/// The issuer name shown in authenticator apps.
pub const TOTP_ISSUER: &str = "jingkang";

/// A new TOTP secret (160 random bits), base32.
pub fn new_totp_secret() -> String {
    totp_rs::Secret::generate().to_base32()
}

fn totp(secret_b32: &str, username: &str) -> anyhow::Result<totp_rs::Totp> {
    let secret = totp_rs::Secret::try_from_base32(secret_b32)
        .map_err(|e| anyhow::anyhow!("bad TOTP secret: {e:?}"))?;
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_account_name(username)
        .with_issuer(Some(TOTP_ISSUER))
        .build()
        .map_err(|e| anyhow::anyhow!("TOTP setup failed: {e:?}"))
}

/// The `otpauth://` URL an authenticator app scans.
pub fn totp_url(secret_b32: &str, username: &str) -> anyhow::Result<String> {
    totp(secret_b32, username)?
        .to_url()
        .map_err(|e| anyhow::anyhow!("TOTP URL failed: {e:?}"))
}

/// The time step a 6-digit `code` matches at `unix_time` (±1 step of 30 s), if any.
pub fn totp_step(secret_b32: &str, code: &str, unix_time: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    totp(secret_b32, "user").ok()?.check(&code, unix_time)
}

/// The current code (tests and tools).
pub fn totp_code(secret_b32: &str, unix_time: u64) -> anyhow::Result<String> {
    Ok(totp(secret_b32, "user")?.generate(unix_time).to_string())
}

/// Ten one-time recovery codes like `k7mq-2xhp-9tcd`.
pub fn generate_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..10)
        .map(|_| {
            (0..3)
                .map(|_| {
                    (0..4)
                        .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char)
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// A recovery code as typed, normalised (case, spaces) before hashing.
pub fn normalise_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policy() {
        for (user, pw, want) in [
            ("zhang", "short1A!", Err("password-too-short")),
            ("zhang", "alllowercaseletters", Err("password-classes")),
            ("zhang", "lowercase123456", Err("password-classes")),
            ("zhang", "Lowercase123456", Err("password-guessable")),
            ("zhang", "Passw0rd!!", Err("password-guessable")),
            ("zhang", "Vm7#tq-Lh2s9", Ok(())),
            (
                "zhang",
                "Zhang-2026-pass",
                Err("password-contains-username"),
            ),
            ("zhang", "长城-abc-123-XYZ", Ok(())),
            ("li", "abcdefghiJ!", Err("password-guessable")),
        ] {
            assert_eq!(check_password_policy(user, pw), want, "{user} / {pw}");
        }
    }

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash_password("Correct-Horse-9").unwrap();
        let b = hash_password("Correct-Horse-9").unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(verify_password("Correct-Horse-9", &a));
        assert!(!verify_password("correct-horse-9", &a));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn generated_passwords_pass_the_policy() {
        for _ in 0..50 {
            let p = generate_password();
            assert_eq!(check_password_policy("admin", &p), Ok(()), "{p}");
        }
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.code()), Some(r));
        }
        assert_eq!(Role::parse("ADMIN"), Some(Role::Admin));
        assert_eq!(Role::parse("boss"), None);
    }

    #[test]
    fn totp_codes_match_their_step_once_generated() {
        let secret = new_totp_secret();
        let now = 1_790_000_000;
        let code = totp_code(&secret, now).unwrap();
        assert_eq!(totp_step(&secret, &code, now), Some(now / 30));
        assert_eq!(
            totp_step(&secret, &format!(" {} {} ", &code[..3], &code[3..]), now),
            Some(now / 30),
            "spaces tolerated"
        );
        assert_eq!(totp_step(&secret, &code, now + 600), None, "expired");
        assert_eq!(totp_step(&secret, "12345", now), None);
        assert_eq!(totp_step(&secret, "abcdef", now), None);
        assert!(
            totp_url(&secret, "zhang")
                .unwrap()
                .starts_with("otpauth://totp/")
        );
        let codes = generate_recovery_codes();
        assert_eq!(codes.len(), 10);
        assert_eq!(normalise_recovery_code(&codes[0].to_uppercase()), codes[0]);
    }

    #[test]
    fn usernames() {
        assert!(check_username("zhang.san").is_ok());
        assert!(check_username("zs").is_err());
        assert!(check_username("张三").is_err());
    }
}
