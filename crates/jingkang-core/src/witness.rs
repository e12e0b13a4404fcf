//! The audit chain's witness (SPEC §10): a hash chain alone cannot see its own tail cut off, so
//! checkpoints of it — how many entries, the newest one's hash, when, and an HMAC under the
//! master key — are appended to a file outside the database (`--audit-witness`, by default
//! `audit-witness.log` in the data directory; a deployment ships it to another host or keeps it
//! on a write-once mount). `audit verify` checks the database's chain against every checkpoint:
//! fewer entries than a checkpoint saw (the newest deleted, or an older copy restored) or another
//! entry at its place is reported with the first missing entry.

use std::io::{BufRead, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::secrets::MasterKey;

const LABEL: &str = "audit-witness";

/// One checkpoint of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Entries in the chain.
    pub entries: u64,
    /// The newest entry's hash (the genesis hash for an empty chain).
    pub head: String,
    pub at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct Line {
    #[serde(flatten)]
    checkpoint: Checkpoint,
    mac: String,
}

fn signed(c: &Checkpoint) -> Vec<u8> {
    format!("{}|{}|{}", c.entries, c.head, c.at.to_rfc3339()).into_bytes()
}

/// Append a checkpoint (one line, flushed to disk).
pub fn append(path: &Path, key: &MasterKey, c: &Checkpoint) -> anyhow::Result<()> {
    let line = Line {
        mac: key.mac_hex(LABEL, &signed(c)),
        checkpoint: c.clone(),
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{}", serde_json::to_string(&line)?)?;
    f.sync_data()?;
    Ok(())
}

/// Why the witness cannot be believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WitnessError {
    /// A line is not a checkpoint, or its HMAC is wrong (written without the key): its number.
    Forged(usize),
}

/// Every checkpoint of the file, oldest first (none when it does not exist).
pub fn read(path: &Path, key: &MasterKey) -> anyhow::Result<Result<Vec<Checkpoint>, WitnessError>> {
    let Ok(f) = std::fs::File::open(path) else {
        return Ok(Ok(Vec::new()));
    };
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let Ok(l) = serde_json::from_str::<Line>(&line) else {
            return Ok(Err(WitnessError::Forged(i + 1)));
        };
        if key.mac_hex(LABEL, &signed(&l.checkpoint)) != l.mac {
            return Ok(Err(WitnessError::Forged(i + 1)));
        }
        out.push(l.checkpoint);
    }
    Ok(Ok(out))
}

/// What comparing the chain with the witness found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Every checkpoint is a prefix of the chain.
    Agrees { checkpoints: usize },
    /// The chain has fewer entries than checkpoint `seen` saw at `at`: entries from `first_missing`
    /// (1-based position) on are gone.
    Truncated {
        first_missing: u64,
        seen: u64,
        at: DateTime<Utc>,
    },
    /// The entry at position `entry` is not the one the checkpoint of `at` saw.
    Diverged { entry: u64, at: DateTime<Utc> },
}

/// Compare the chain (its length and the hash of the entry at a 1-based position) with the
/// checkpoints.
pub async fn compare<F, Fut>(
    checkpoints: &[Checkpoint],
    entries: u64,
    hash_at: F,
) -> anyhow::Result<Finding>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<String>>>,
{
    // The newest checkpoint that sees the most is decisive for truncation; every one is checked
    // for divergence, newest first (one check each).
    if let Some(most) = checkpoints.iter().max_by_key(|c| c.entries)
        && most.entries > entries
    {
        return Ok(Finding::Truncated {
            first_missing: entries + 1,
            seen: most.entries,
            at: most.at,
        });
    }
    for c in checkpoints.iter().rev() {
        if c.entries == 0 {
            continue;
        }
        if hash_at(c.entries).await?.as_deref() != Some(c.head.as_str()) {
            return Ok(Finding::Diverged {
                entry: c.entries,
                at: c.at,
            });
        }
    }
    Ok(Finding::Agrees {
        checkpoints: checkpoints.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forged_line_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.log");
        let key = MasterKey::generate();
        let c = Checkpoint {
            entries: 3,
            head: "abc".into(),
            at: Utc::now(),
        };
        append(&path, &key, &c).unwrap();
        assert_eq!(read(&path, &key).unwrap(), Ok(vec![c]));
        // Another key (or a hand-written line) does not verify.
        assert_eq!(
            read(&path, &MasterKey::generate()).unwrap(),
            Err(WitnessError::Forged(1))
        );
    }
}
