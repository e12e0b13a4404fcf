//! The annual joint census (年度联合普查, seed 001): the four departments' lists compared with the
//! registry at once, one item per person.
//!
//! Each list is matched with the registry as a monthly comparison matches it ([`super::compare`]):
//! a registry person's rows on all lists make one item, with the conflicts each list raises (tagged
//! with the department) and the departments that should list them and do not. The rows no registry
//! person took are then linked across the lists — exact on the canonical ID number, then by the
//! linkage engine over all of them — so that a person on the police list with an ID number and on
//! the disability federation's without one is one item, not two. Registry duplicates are found as
//! in a monthly run.

use std::collections::{HashMap, HashSet};

use super::{
    Class, Comparison, Item, ListRow, Matched, MatchedBy, Ours, Sighting, Source, conflicts,
    duplicates, expected, linkage_config, match_rows, one_person, rows_table,
};
use crate::link;

/// One department's list in a census.
#[derive(Debug, Clone, Copy)]
pub struct CensusList<'a> {
    pub source: &'a Source,
    pub rows: &'a [ListRow],
}

/// Disjoint sets over row indices.
struct Sets(Vec<usize>);

impl Sets {
    fn new(n: usize) -> Sets {
        Sets((0..n).collect())
    }
    fn find(&mut self, mut x: usize) -> usize {
        while self.0[x] != x {
            self.0[x] = self.0[self.0[x]];
            x = self.0[x];
        }
        x
    }
    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            // The smaller index is the root: a cluster is named by its first row.
            let (lo, hi) = if a < b { (a, b) } else { (b, a) };
            self.0[hi] = lo;
        }
    }
}

/// Compare the lists with the registry of a scope at once. Item rows ([`super::Item::row`],
/// [`Sighting::row`]) index the rows of all lists in order. `elsewhere` holds the canonical ID
/// numbers on the lists registered outside the scope.
pub fn census(lists: &[CensusList<'_>], ours: &[Ours], elsewhere: &HashSet<String>) -> Comparison {
    let mut out = Comparison::default();
    let mut offsets = Vec::with_capacity(lists.len());
    let mut total = 0;
    for l in lists {
        offsets.push(total);
        total += l.rows.len();
    }
    let matched: Vec<Matched> = lists
        .iter()
        .map(|l| match_rows(ours, l.rows, &mut out))
        .collect();

    // A registry person: their rows on every list, what disagrees, who should list them.
    for (i, o) in ours.iter().enumerate() {
        let mut item = Item {
            person: Some(o.person),
            ..Item::new(Class::OursOnly)
        };
        for (k, l) in lists.iter().enumerate() {
            match matched[k].our_match[i] {
                Some((j, by, score)) => {
                    item.seen.push(Sighting {
                        source: l.source.code.clone(),
                        row: offsets[k] + j,
                        matched_by: Some(by),
                        score,
                    });
                    for mut c in conflicts(l.source, o, &l.rows[j], by) {
                        c.source = Some(l.source.code.clone());
                        item.conflicts.push(c);
                    }
                    if item.row.is_none() {
                        item.row = Some(offsets[k] + j);
                        item.matched_by = Some(by);
                        item.score = score;
                        item.fields = matched[k]
                            .explained
                            .get(&(i, j))
                            .cloned()
                            .unwrap_or_default();
                    }
                }
                None if expected(l.source, o) => item.missing_from.push(l.source.code.clone()),
                None => {}
            }
        }
        if !item.conflicts.is_empty() {
            item.class = Class::Conflict;
            out.items.push(item);
        } else if !item.missing_from.is_empty() {
            out.items.push(item);
        } else if !item.seen.is_empty() {
            out.agreeing += 1;
        }
    }

    // The rows no registry person took, linked across the lists: one person, one item. The
    // model is fitted on every row of every list — the rows of one registry person on several
    // lists teach it what one person looks like — and only pairs of open rows are used.
    let mut at: Vec<(usize, usize)> = Vec::with_capacity(total);
    for (k, l) in lists.iter().enumerate() {
        at.extend((0..l.rows.len()).map(|j| (k, j)));
    }
    let row = |n: usize| {
        let (k, j) = at[n];
        &lists[k].rows[j]
    };
    let open: Vec<bool> = at
        .iter()
        .map(|&(k, j)| matched[k].their_match[j].is_none())
        .collect();
    let mut sets = Sets::new(total);
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    let mut how: HashMap<usize, (MatchedBy, Option<f64>)> = HashMap::new();
    for n in (0..total).filter(|&n| open[n]) {
        let r = row(n);
        if r.id_valid
            && let Some(id) = r.id_number.as_deref()
        {
            match by_id.get(id) {
                Some(&first) => {
                    sets.union(first, n);
                    how.insert(n, (MatchedBy::IdNumber, None));
                }
                None => {
                    by_id.insert(id, n);
                }
            }
        }
    }
    if open.iter().filter(|o| **o).count() > 1 {
        let table = rows_table((0..total).map(|n| (n, row(n))));
        let outcome = link::run(linkage_config(), &table, None);
        out.compared += outcome.compared;
        for s in outcome.pairs.iter().filter(|s| one_person(s, true)) {
            let (Ok(a), Ok(b)) = (s.left.parse::<usize>(), s.right.parse::<usize>()) else {
                continue;
            };
            if open[a] && open[b] && sets.find(a) != sets.find(b) {
                sets.union(a, b);
                how.entry(a.max(b))
                    .or_insert((MatchedBy::Linkage, Some(s.score)));
            }
        }
    }
    let mut clusters: Vec<Vec<usize>> = Vec::new();
    let mut cluster_of: HashMap<usize, usize> = HashMap::new();
    for n in (0..total).filter(|&n| open[n]) {
        let root = sets.find(n);
        let c = *cluster_of.entry(root).or_insert_with(|| {
            clusters.push(Vec::new());
            clusters.len() - 1
        });
        clusters[c].push(n);
    }
    for members in clusters {
        let far = members.iter().any(|&n| {
            let r = row(n);
            r.id_valid
                && r.id_number
                    .as_ref()
                    .is_some_and(|id| elsewhere.contains(id))
        });
        let report = far || members.iter().any(|&n| lists[at[n].0].source.report_theirs);
        if !report {
            continue;
        }
        let seen: Vec<Sighting> = members
            .iter()
            .map(|&n| {
                let (by, score) = how.get(&n).copied().unzip();
                Sighting {
                    source: lists[at[n].0].source.code.clone(),
                    row: n,
                    matched_by: by,
                    score: score.flatten(),
                }
            })
            .collect();
        out.items.push(Item {
            row: seen.first().map(|s| s.row),
            elsewhere: far,
            seen,
            ..Item::new(Class::TheirsOnly)
        });
    }
    out.items.extend(duplicates(ours));
    out
}
