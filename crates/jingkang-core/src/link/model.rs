//! The Fellegi–Sunter model: for each field and agreement level, the probability `m` that a
//! true match shows that level and `u` that a non-match does; a pair's match weight is the sum
//! of `log2(m / u)` over its fields with values, plus the prior odds. The parameters are
//! estimated by expectation–maximisation over the comparison patterns of the candidate pairs
//! (Fellegi & Sunter 1969; Winkler 1988; as Splink does), `u` first from random pairs, which
//! are almost all non-matches.

use std::collections::HashMap;

/// A comparison pattern: one level per field (`None`: a value missing).
pub type Pattern = Vec<Option<u8>>;

/// The model's parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Model {
    /// The share of candidate pairs that are matches.
    pub lambda: f64,
    /// `m[field][level]`, `u[field][level]`.
    pub m: Vec<Vec<f64>>,
    pub u: Vec<Vec<f64>>,
    /// Rounds of EM run, and whether it settled before the limit.
    pub iterations: usize,
    pub converged: bool,
}

/// Nothing is impossible: a level never seen keeps this much probability.
const FLOOR: f64 = 1e-6;

impl Model {
    /// A starting point: matches mostly agree exactly (the top level), non-matches' levels as
    /// `u` gives them (or evenly), one pair in a hundred a match.
    pub fn start(levels: &[usize], u: Option<Vec<Vec<f64>>>) -> Model {
        let m = levels
            .iter()
            .map(|&k| {
                (0..k)
                    .map(|l| {
                        if l + 1 == k {
                            0.9
                        } else {
                            0.1 / (k - 1).max(1) as f64
                        }
                    })
                    .collect()
            })
            .collect();
        let u = u.unwrap_or_else(|| {
            levels
                .iter()
                .map(|&k| {
                    (0..k)
                        .map(|l| {
                            if l == 0 {
                                0.9
                            } else {
                                0.1 / (k - 1).max(1) as f64
                            }
                        })
                        .collect()
                })
                .collect()
        });
        Model {
            lambda: 0.01,
            m,
            u,
            iterations: 0,
            converged: false,
        }
    }

    /// The match weight (log2 of the odds) of a pattern, and each field's part of it.
    pub fn weight(&self, pattern: &[Option<u8>]) -> (f64, Vec<Option<f64>>) {
        let prior = (self.lambda / (1.0 - self.lambda)).log2();
        let parts: Vec<Option<f64>> = pattern
            .iter()
            .enumerate()
            .map(|(f, l)| {
                l.map(|l| {
                    (self.m[f][l as usize].max(FLOOR) / self.u[f][l as usize].max(FLOOR)).log2()
                })
            })
            .collect();
        (prior + parts.iter().flatten().sum::<f64>(), parts)
    }

    /// The probability that a pair with this pattern is a match.
    pub fn probability(&self, pattern: &[Option<u8>]) -> f64 {
        let w = self.weight(pattern).0;
        1.0 / (1.0 + (-w).exp2())
    }
}

/// The share of each level among pairs (patterns with their counts): `u` from random pairs.
pub fn level_shares(levels: &[usize], patterns: &HashMap<Pattern, u64>) -> Vec<Vec<f64>> {
    let mut counts: Vec<Vec<f64>> = levels.iter().map(|&k| vec![0.0; k]).collect();
    for (p, n) in patterns {
        for (f, l) in p.iter().enumerate() {
            if let Some(l) = l {
                counts[f][*l as usize] += *n as f64;
            }
        }
    }
    counts.into_iter().map(normalise).collect()
}

fn normalise(v: Vec<f64>) -> Vec<f64> {
    let k = v.len() as f64;
    let total: f64 = v.iter().map(|x| x + FLOOR).sum();
    if total <= FLOOR * k {
        return vec![1.0 / k; v.len()];
    }
    v.into_iter().map(|x| (x + FLOOR) / total).collect()
}

/// Estimate the model from the candidate pairs' patterns (with their counts) by EM, starting at
/// `start`; `u` is kept as given when `fix_u` (estimated from random pairs), else estimated too.
/// Stops when no parameter moves more than 1e-6, or after `max_rounds`.
pub fn estimate(
    patterns: &HashMap<Pattern, u64>,
    start: Model,
    fix_u: bool,
    max_rounds: usize,
) -> Model {
    let mut model = start;
    let rows: Vec<(&Pattern, f64)> = patterns.iter().map(|(p, n)| (p, *n as f64)).collect();
    let total: f64 = rows.iter().map(|(_, n)| n).sum();
    if total == 0.0 {
        return model;
    }
    for round in 1..=max_rounds {
        let mut m: Vec<Vec<f64>> = model.m.iter().map(|v| vec![0.0; v.len()]).collect();
        let mut u: Vec<Vec<f64>> = model.u.iter().map(|v| vec![0.0; v.len()]).collect();
        let mut matched = 0.0;
        for (p, n) in &rows {
            let w = model.probability(p);
            matched += n * w;
            for (f, l) in p.iter().enumerate() {
                if let Some(l) = l {
                    m[f][*l as usize] += n * w;
                    u[f][*l as usize] += n * (1.0 - w);
                }
            }
        }
        let next = Model {
            lambda: (matched / total).clamp(FLOOR, 1.0 - FLOOR),
            m: m.into_iter().map(normalise).collect(),
            u: if fix_u {
                model.u.clone()
            } else {
                u.into_iter().map(normalise).collect()
            },
            iterations: round,
            converged: false,
        };
        let moved = (next.lambda - model.lambda).abs().max(
            next.m
                .iter()
                .flatten()
                .zip(model.m.iter().flatten())
                .chain(next.u.iter().flatten().zip(model.u.iter().flatten()))
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max),
        );
        model = next;
        if moved < 1e-6 {
            model.converged = true;
            break;
        }
    }
    model
}

/// The share of matches among the pairs with `m` and `u` as given (EM over λ alone).
pub fn estimate_lambda(patterns: &HashMap<Pattern, u64>, start: Model, max_rounds: usize) -> Model {
    let mut model = start;
    let total: f64 = patterns.values().map(|n| *n as f64).sum();
    if total == 0.0 {
        return model;
    }
    for round in 1..=max_rounds {
        let matched: f64 = patterns
            .iter()
            .map(|(p, n)| *n as f64 * model.probability(p))
            .sum();
        let next = (matched / total).clamp(FLOOR, 1.0 - FLOOR);
        let moved = (next - model.lambda).abs();
        model.lambda = next;
        model.iterations = round;
        if moved < 1e-9 {
            model.converged = true;
            break;
        }
    }
    model
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Draw `n` pairs from a known mixture of matches and non-matches over three fields.
    fn draw(
        n: usize,
        lambda: f64,
        m: &[Vec<f64>],
        u: &[Vec<f64>],
        seed: u64,
    ) -> HashMap<Pattern, u64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut out: HashMap<Pattern, u64> = HashMap::new();
        let pick = |rng: &mut rand_chacha::ChaCha8Rng, probs: &[f64]| -> u8 {
            let mut x: f64 = rng.random();
            for (i, p) in probs.iter().enumerate() {
                if x < *p {
                    return i as u8;
                }
                x -= p;
            }
            (probs.len() - 1) as u8
        };
        for _ in 0..n {
            let is_match = rng.random::<f64>() < lambda;
            let params = if is_match { m } else { u };
            let p: Pattern = params
                .iter()
                .map(|probs| Some(pick(&mut rng, probs)))
                .collect();
            *out.entry(p).or_default() += 1;
        }
        out
    }

    #[test]
    fn em_recovers_a_known_mixture() {
        let m = vec![vec![0.05, 0.95], vec![0.05, 0.15, 0.8], vec![0.1, 0.9]];
        let u = vec![vec![0.9, 0.1], vec![0.7, 0.25, 0.05], vec![0.8, 0.2]];
        let data = draw(200_000, 0.2, &m, &u, 7);
        let fitted = estimate(&data, Model::start(&[2, 3, 2], None), false, 500);
        assert!(fitted.converged, "{fitted:?}");
        assert!((fitted.lambda - 0.2).abs() < 0.01, "λ {}", fitted.lambda);
        for (want, got) in m
            .iter()
            .flatten()
            .chain(u.iter().flatten())
            .zip(fitted.m.iter().flatten().chain(fitted.u.iter().flatten()))
        {
            assert!((want - got).abs() < 0.02, "{want} vs {got}: {fitted:?}");
        }
        // With u given (as from random pairs), m and λ alone.
        let fixed = estimate(&data, Model::start(&[2, 3, 2], Some(u.clone())), true, 500);
        assert!(
            (fixed.lambda - 0.2).abs() < 0.01 && fixed.u == u,
            "{fixed:?}"
        );
    }

    #[test]
    fn weights_add_up_and_missing_fields_say_nothing() {
        let model = Model {
            lambda: 0.5,
            m: vec![vec![0.1, 0.9], vec![0.2, 0.8]],
            u: vec![vec![0.9, 0.1], vec![0.8, 0.2]],
            iterations: 0,
            converged: true,
        };
        let (w, parts) = model.weight(&[Some(1), None]);
        assert!((w - 9f64.log2()).abs() < 1e-9 && parts[1].is_none());
        assert!((model.probability(&[Some(1), Some(1)]) - 36.0 / 37.0).abs() < 1e-9);
        assert!(model.probability(&[Some(0), Some(0)]) < 0.03);
        let shares = level_shares(
            &[2],
            &HashMap::from([(vec![Some(0)], 3), (vec![Some(1)], 1), (vec![None], 5)]),
        );
        assert!((shares[0][0] - 0.75).abs() < 1e-5);
    }
}
