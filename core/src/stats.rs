//! The statistics the study reports: Wilson score intervals for rates, and maximum-likelihood logistic
//! regression (Newton–Raphson / IRLS) with Wald intervals and p-values for the predictors of remission.

use nalgebra::{DMatrix, DVector};
use serde::Serialize;

use super::rules::{Refusal, Rule};

/// The 0.975 quantile of the standard normal: 95% two-sided intervals.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The 95% Wilson score interval of `x` successes in `n` trials (None when `n` is 0).
pub fn wilson(x: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let (x, n, z2) = (x as f64, n as f64, Z95 * Z95);
    let centre = (x + z2 / 2.0) / (n + z2);
    let half = Z95 / (n + z2) * (x * (n - x) / n + z2 / 4.0).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// One explanatory term of the model: categorical (dummy-coded against its most frequent level) or numeric.
#[derive(Debug, Clone)]
pub enum TermValues {
    Categorical(Vec<String>),
    /// Values, and how one unit of them is described (e.g. "per 10 years").
    Numeric(Vec<f64>, String),
}

#[derive(Debug, Clone)]
pub struct Term {
    pub name: String,
    pub values: TermValues,
}

/// An odds ratio of the fitted model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coefficient {
    pub term: String,
    /// The level compared (categorical), or the unit of a numeric term.
    pub level: String,
    /// The reference level it is compared against (categorical terms only).
    pub reference: Option<String>,
    pub odds_ratio: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Model {
    pub n: usize,
    pub events: usize,
    pub terms: Vec<Coefficient>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("{0}")]
    Degenerate(String),
}

/// Events per coefficient the model needs of the rarer outcome (the intercept not counted).
pub const EVENTS_PER_COEFFICIENT: usize = 10;
const MAX_ITERATIONS: usize = 50;
/// A log odds ratio beyond this means the likelihood is still climbing: separation.
const MAX_LOG_ODDS: f64 = 15.0;

struct Column {
    term: usize,
    level: String,
    reference: Option<String>,
    values: Vec<f64>,
}

/// Levels by frequency (most frequent first, ties by name): the first is the reference.
fn levels(values: &[String]) -> Vec<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for v in values {
        match counts.iter_mut().find(|(l, _)| l == v) {
            Some((_, c)) => *c += 1,
            None => counts.push((v.clone(), 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts.into_iter().map(|(l, _)| l).collect()
}

fn columns(n: usize, terms: &[Term]) -> Result<Vec<Column>, ModelError> {
    let mut cols = Vec::new();
    for (t, term) in terms.iter().enumerate() {
        match &term.values {
            TermValues::Categorical(v) => {
                let levels = levels(v);
                if levels.len() < 2 {
                    return Err(ModelError::Degenerate(format!(
                        "term {} has a single level ({}) among the {n} recipients: nothing to compare",
                        term.name,
                        levels.first().map(String::as_str).unwrap_or("none")
                    )));
                }
                for level in &levels[1..] {
                    cols.push(Column {
                        term: t,
                        level: level.clone(),
                        reference: Some(levels[0].clone()),
                        values: v.iter().map(|x| f64::from(u8::from(x == level))).collect(),
                    });
                }
            }
            TermValues::Numeric(v, unit) => {
                cols.push(Column { term: t, level: unit.clone(), reference: None, values: v.clone() });
            }
        }
    }
    Ok(cols)
}

/// Fits P(y) = logistic(b0 + Σ bj xj) by maximum likelihood. Refuses when the rarer outcome is fewer than 10
/// per coefficient, or when the likelihood has no finite maximum (separation).
pub fn logistic(y: &[bool], terms: &[Term]) -> Result<Model, ModelError> {
    let n = y.len();
    if let Some(t) = terms.iter().find(|t| match &t.values {
        TermValues::Categorical(v) => v.len() != n,
        TermValues::Numeric(v, _) => v.len() != n,
    }) {
        return Err(ModelError::Degenerate(format!("term {} does not have one value per recipient", t.name)));
    }
    let events = y.iter().filter(|v| **v).count();
    let cols = columns(n, terms)?;
    let k = cols.len();
    let rarer = events.min(n - events);
    if rarer < EVENTS_PER_COEFFICIENT * k.max(1) {
        return Err(Refusal {
            rule: Rule::PredictorsEventsPerVariable,
            detail: format!(
                "{rarer} of the rarer outcome ({events} remissions among {n} recipients) for {k} coefficients; \
                 the model needs at least {} ({EVENTS_PER_COEFFICIENT} per coefficient): fewer terms or more data",
                EVENTS_PER_COEFFICIENT * k.max(1)
            ),
        }
        .into());
    }
    let x = DMatrix::from_fn(n, k + 1, |i, j| if j == 0 { 1.0 } else { cols[j - 1].values[i] });
    let yv = DVector::from_iterator(n, y.iter().map(|v| f64::from(u8::from(*v))));
    let separation = |why: String| -> ModelError {
        Refusal {
            rule: Rule::PredictorsSeparation,
            detail: format!("{why}: some term predicts the outcome (almost) perfectly; merge or drop its rare levels"),
        }
        .into()
    };
    let mut beta = DVector::zeros(k + 1);
    let mut info = None;
    for _ in 0..MAX_ITERATIONS {
        let p = (&x * &beta).map(|eta| 1.0 / (1.0 + (-eta).exp()));
        let w = p.map(|p| p * (1.0 - p));
        let xtw = DMatrix::from_fn(k + 1, n, |j, i| x[(i, j)] * w[i]);
        let h = &xtw * &x;
        let g = x.transpose() * (&yv - &p);
        let chol = h.clone().cholesky().ok_or_else(|| {
            ModelError::Degenerate("the terms are collinear (one is determined by the others); drop one".into())
        })?;
        let step = chol.solve(&g);
        beta += &step;
        if beta.iter().any(|b| !b.is_finite() || b.abs() > MAX_LOG_ODDS) {
            return Err(separation("a coefficient diverges".into()));
        }
        if step.amax() < 1e-9 {
            info = Some(chol.inverse());
            break;
        }
    }
    let Some(cov) = info else {
        return Err(separation(format!("no convergence in {MAX_ITERATIONS} iterations")));
    };
    let coefficients = cols
        .iter()
        .enumerate()
        .map(|(c, col)| {
            let (b, se) = (beta[c + 1], cov[(c + 1, c + 1)].sqrt());
            Coefficient {
                term: terms[col.term].name.clone(),
                level: col.level.clone(),
                reference: col.reference.clone(),
                odds_ratio: b.exp(),
                ci_low: (b - Z95 * se).exp(),
                ci_high: (b + Z95 * se).exp(),
                p: libm::erfc((b / se).abs() / std::f64::consts::SQRT_2),
            }
        })
        .collect();
    Ok(Model { n, events, terms: coefficients })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// Newcombe (1998), "Two-sided confidence intervals for the single proportion", table I, method 3.
    #[test]
    fn wilson_matches_newcombes_published_intervals() {
        for (x, n, lo, hi) in
            [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)]
        {
            let (l, h) = wilson(x, n).unwrap();
            assert!(close(l, lo, 5e-5) && close(h, hi, 5e-5), "{x}/{n}: {l:.4}–{h:.4}");
        }
        assert_eq!(wilson(0, 0), None);
    }

    /// With one binary term the maximum-likelihood odds ratio is the 2×2 table's cross-product ratio and its
    /// Wald standard error is sqrt(1/a + 1/b + 1/c + 1/d) (Woolf).
    #[test]
    fn one_binary_term_gives_the_cross_product_ratio_and_woolfs_interval() {
        let (a, b, c, d) = (60, 40, 30, 70); // exposed: 60 remissions, 40 not; reference: 30 and 70
        let mut y = Vec::new();
        let mut g = Vec::new();
        for (level, yes, no) in [("tet", a, b), ("colonoscopy", c, d)] {
            y.extend(std::iter::repeat_n(true, yes).chain(std::iter::repeat_n(false, no)));
            g.extend(std::iter::repeat_n(level.to_string(), yes + no));
        }
        let m = logistic(&y, &[Term { name: "route".into(), values: TermValues::Categorical(g) }]).unwrap();
        assert_eq!((m.n, m.events), (200, 90));
        let t = &m.terms[0];
        // Equal frequencies: the reference is the first by name.
        assert_eq!((t.level.as_str(), t.reference.as_deref()), ("tet", Some("colonoscopy")));
        let or = (a * d) as f64 / (b * c) as f64;
        let se = (1.0 / a as f64 + 1.0 / b as f64 + 1.0 / c as f64 + 1.0 / d as f64).sqrt();
        assert!(close(t.odds_ratio, or, 1e-9), "{}", t.odds_ratio);
        assert!(close(t.ci_low, (or.ln() - Z95 * se).exp(), 1e-9));
        assert!(close(t.ci_high, (or.ln() + Z95 * se).exp(), 1e-9));
        // z = ln(3.5)/0.2988 = 4.19: p ≈ 2.8e-5.
        assert!(t.p > 2.0e-5 && t.p < 3.5e-5, "{}", t.p);
    }

    #[test]
    fn thin_data_and_separation_are_refused_naming_the_numbers() {
        let y: Vec<bool> = (0..100).map(|i| i < 15).collect();
        let g: Vec<String> = (0..100).map(|i| ["a", "b", "c"][i % 3].to_string()).collect();
        let err = logistic(&y, &[Term { name: "donor".into(), values: TermValues::Categorical(g) }]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("report.events-per-variable") && msg.contains("15 of the rarer") && msg.contains("20"),
            "{msg}"
        );

        let y: Vec<bool> = (0..200).map(|i| i < 100).collect();
        let age: Vec<f64> = (0..200).map(|i| if i < 100 { 5.0 + f64::from(i) / 100.0 } else { 1.0 }).collect();
        let err = logistic(&y, &[Term { name: "age".into(), values: TermValues::Numeric(age, "per 10 years".into()) }])
            .unwrap_err();
        assert!(err.to_string().contains("report.separation"), "{err}");
    }
}
