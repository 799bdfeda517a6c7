//! Classification metrics for `digitnet eval`, matching scikit-learn.
//!
//! Input: class probabilities `s`, row-major `[N, K]`, and labels `y ∈ {0, …, K−1}ᴺ`. Only the
//! order of the values within a row and within a column matters, so logits work as well.
//!
//! **Ranking within a row.** Class `a` outranks class `b` in row `n` when
//! `sₙₐ > sₙᵦ`, or `sₙₐ = sₙᵦ` and `a < b`. The prediction `ŷₙ` is the class nothing outranks:
//! the first maximum, as `np.argmax` and [`crate::Tensor::argmax_rows`]. The label's rank is
//! `rankₙ = #{j : j outranks yₙ}`.
//!
//! **Confusion matrix** `C[t][p] = #{n : yₙ = t, ŷₙ = p}`, with row sums `rₜ` (the support) and
//! column sums `cₚ` (how often `p` was predicted). For class `i`:
//!
//! ```text
//! tpᵢ = Cᵢᵢ,   fpᵢ = cᵢ − Cᵢᵢ,   fnᵢ = rᵢ − Cᵢᵢ
//! precisionᵢ = tpᵢ / (tpᵢ + fpᵢ),   recallᵢ = tpᵢ / (tpᵢ + fnᵢ),   F1ᵢ = 2tpᵢ / (2tpᵢ + fpᵢ + fnᵢ)
//! ```
//! A ratio whose denominator is 0 is 0, as scikit-learn's default `zero_division="warn"` gives
//! (without the warning). F1 is computed from the counts, as scikit-learn ≥ 1.3 does; it equals
//! the harmonic mean of precision and recall whenever both are defined.
//!
//! **Averages** run over all K classes, including classes that never occur (scikit-learn with
//! `labels=range(K)`): macro = `(1/K) Σᵢ mᵢ`, weighted = `Σᵢ rᵢ mᵢ / N`; both report support N.
//!
//! ```text
//! accuracy = Σᵢ Cᵢᵢ / N
//! κ        = (p_o − p_e) / (1 − p_e) = (N Σᵢ Cᵢᵢ − Σᵢ rᵢcᵢ) / (N² − Σᵢ rᵢcᵢ)      (Cohen)
//! top-2    = #{n : rankₙ < 2} / N
//! AUCᵢ     = (1 / PN') Σ_{a: yₐ=i} Σ_{b: yᵦ≠i} ([sₐᵢ > sᵦᵢ] + ½[sₐᵢ = sᵦᵢ])      (one vs rest)
//! ```
//! κ is computed from integer counts, so it is exact up to the final division. It is undefined
//! when `N² = Σ rᵢcᵢ`, i.e. every label and every prediction is one same class (scikit-learn
//! returns NaN); it is `None` here. AUCᵢ, with `P` positives and `N'` negatives, is the
//! Mann–Whitney statistic: the area under the ROC curve with a tie drawn as a diagonal step,
//! which is what scikit-learn's trapezoid over `roc_curve` measures. It is undefined when class
//! `i` has no positive or no negative sample (scikit-learn returns NaN with a warning); it is
//! `None` here, and serialises as JSON `null`. It is computed by sorting each column once and
//! walking groups of equal scores (`−0.0 = +0.0`): `O(K N log N)`.
//!
//! **Ties in top-k.** scikit-learn's `top_k_accuracy_score` ranks by
//! `argsort(s, kind="mergesort")[:, ::-1]`, which puts the *higher* index first among equal
//! scores, so its top-1 can disagree with `np.argmax` accuracy and its top-2 can be lower than
//! accuracy. Here the label's rank uses the argmax's own rule, so top-1 is the accuracy and
//! top-2 ≥ accuracy. Without ties in a row (the usual case for softmax outputs) both agree.

use serde::Serialize;

use crate::error::{Error, Result};

/// How many of the most confused pairs a report keeps.
pub const MAX_CONFUSED_PAIRS: usize = 10;

/// Decimal places in [`ClassificationReport::to_text`] (scikit-learn's `digits`; its default is
/// 2, which shows every class of a good MNIST model as 0.99).
const TEXT_DIGITS: usize = 4;

/// Precision, recall, F1 and support of one class, or an average of them.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClassScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Samples whose label is this class (for an average: all samples).
    pub support: usize,
}

/// [`ClassScores`] with the name of their class; serialises flat:
/// `{"class": "7", "precision": …, "recall": …, "f1": …, "support": …}`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct NamedScores {
    pub class: String,
    #[serde(flatten)]
    pub scores: ClassScores,
}

/// An off-diagonal cell of the confusion matrix: `count` samples of `true_class` predicted as
/// `predicted`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ConfusedPair {
    pub true_class: String,
    pub predicted: String,
    pub count: usize,
}

/// Everything `digitnet eval` reports; the formulas are in the module documentation.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClassificationReport {
    /// Fraction of samples whose prediction is their label.
    pub accuracy: f64,
    /// The mean loss, as the caller computed it.
    pub loss: f64,
    /// `confusion[true][predicted]`, K × K.
    pub confusion: Vec<Vec<usize>>,
    /// One entry per class, in class order.
    pub per_class: Vec<NamedScores>,
    /// Unweighted mean over all classes; support = number of samples.
    pub macro_avg: ClassScores,
    /// Support-weighted mean over all classes; support = number of samples.
    pub weighted_avg: ClassScores,
    /// Cohen's kappa between labels and predictions; `None` when undefined (every label and
    /// every prediction is the same class).
    pub kappa: Option<f64>,
    /// Fraction of samples whose label is among the two highest-ranked classes.
    pub top2: f64,
    /// Off-diagonal cells with a nonzero count, largest first (ties: by true class, then by
    /// predicted class), at most [`MAX_CONFUSED_PAIRS`].
    pub confused_pairs: Vec<ConfusedPair>,
    /// One-vs-rest ROC-AUC per class; `None` (JSON `null`) for a class that is the label of no
    /// sample or of every sample.
    pub roc_auc: Vec<Option<f64>>,
}

/// Computes the report for `probabilities` (row-major `[N, K]`, `K = class_names.len()`) against
/// `labels` (length N). `loss` is stored as given.
///
/// Errors: `K < 2` ([`Error::Config`]); no samples, a label ≥ K or a non-finite probability
/// ([`Error::Data`]); `probabilities.len() ≠ N·K` ([`Error::Length`]).
pub fn classification_report(probabilities: &[f32], labels: &[u8], class_names: &[String], loss: f64) -> Result<ClassificationReport> {
    let k = class_names.len();
    validate(probabilities, labels, k)?;
    let n = labels.len();
    let labels: Vec<usize> = labels.iter().map(|&l| usize::from(l)).collect();
    let rows = || probabilities.chunks_exact(k);

    let mut confusion = vec![vec![0usize; k]; k];
    let mut top2_hits = 0usize;
    for (row, &label) in rows().zip(&labels) {
        confusion[label][argmax(row)] += 1;
        if rank_of(row, label) < 2 {
            top2_hits += 1;
        }
    }
    let row_sums: Vec<usize> = confusion.iter().map(|r| r.iter().sum()).collect();
    let col_sums: Vec<usize> = (0..k).map(|p| confusion.iter().map(|r| r[p]).sum()).collect();
    let correct: usize = (0..k).map(|i| confusion[i][i]).sum();

    let per_class: Vec<NamedScores> = class_names
        .iter()
        .enumerate()
        .map(|(i, name)| NamedScores { class: name.clone(), scores: class_scores(confusion[i][i], col_sums[i], row_sums[i]) })
        .collect();
    let (macro_avg, weighted_avg) = averages(&per_class, n);

    let roc_auc = (0..k)
        .map(|class| {
            let column: Vec<f32> = rows().map(|row| row[class]).collect();
            one_vs_rest_auc(&column, &labels, class)
        })
        .collect();

    Ok(ClassificationReport {
        accuracy: correct as f64 / n as f64,
        loss,
        kappa: cohen_kappa(correct, &row_sums, &col_sums, n),
        top2: top2_hits as f64 / n as f64,
        confused_pairs: most_confused(&confusion, class_names),
        confusion,
        per_class,
        macro_avg,
        weighted_avg,
        roc_auc,
    })
}

/// Checks everything [`classification_report`] relies on; see its errors.
fn validate(probabilities: &[f32], labels: &[u8], k: usize) -> Result<()> {
    if k < 2 {
        return Err(Error::config(format!("classification metrics need at least 2 classes, got {k}")));
    }
    let n = labels.len();
    if n == 0 {
        return Err(Error::Data("classification metrics need at least one sample, got none".into()));
    }
    if probabilities.len() != n.saturating_mul(k) {
        return Err(Error::Length {
            context: format!("classification report: probabilities for {n} labels and {k} classes"),
            shape: vec![n, k],
            expected: n.saturating_mul(k),
            found: probabilities.len(),
        });
    }
    if let Some((i, &label)) = labels.iter().enumerate().find(|(_, &l)| usize::from(l) >= k) {
        return Err(Error::Data(format!("label {label} of sample {i} is out of range for {k} classes")));
    }
    if let Some(at) = probabilities.iter().position(|v| !v.is_finite()) {
        return Err(Error::Data(format!("probability of class {} for sample {} is {}, expected a finite number", at % k, at / k, probabilities[at])));
    }
    Ok(())
}

/// Whether class `a` outranks class `b` in `row`: a higher score, or an equal one and a lower
/// index. The one ranking rule behind both the prediction and top-k.
fn outranks(row: &[f32], a: usize, b: usize) -> bool {
    row[a] > row[b] || (row[a] == row[b] && a < b)
}

/// The class no other class outranks: the first maximum.
fn argmax(row: &[f32]) -> usize {
    (1..row.len()).fold(0, |best, j| if outranks(row, j, best) { j } else { best })
}

/// How many classes outrank `class` (0 = it is the prediction).
fn rank_of(row: &[f32], class: usize) -> usize {
    (0..row.len()).filter(|&j| outranks(row, j, class)).count()
}

/// `num / den`, or 0 when `den = 0` (scikit-learn's default zero-division result).
fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Scores of one class from its diagonal cell, column sum (predicted) and row sum (support).
fn class_scores(tp: usize, predicted: usize, support: usize) -> ClassScores {
    let (fp, fn_) = (predicted - tp, support - tp);
    ClassScores { precision: ratio(tp, tp + fp), recall: ratio(tp, tp + fn_), f1: ratio(2 * tp, 2 * tp + fp + fn_), support }
}

/// Macro and support-weighted averages over all classes; `n` = Σ support > 0.
fn averages(per_class: &[NamedScores], n: usize) -> (ClassScores, ClassScores) {
    let mean = |score: fn(&ClassScores) -> f64| per_class.iter().map(|c| score(&c.scores)).sum::<f64>() / per_class.len() as f64;
    let weighted = |score: fn(&ClassScores) -> f64| per_class.iter().map(|c| c.scores.support as f64 * score(&c.scores)).sum::<f64>() / n as f64;
    let macro_avg = ClassScores { precision: mean(|s| s.precision), recall: mean(|s| s.recall), f1: mean(|s| s.f1), support: n };
    let weighted_avg = ClassScores { precision: weighted(|s| s.precision), recall: weighted(|s| s.recall), f1: weighted(|s| s.f1), support: n };
    (macro_avg, weighted_avg)
}

/// Cohen's kappa `(N·Σ Cᵢᵢ − Σ rᵢcᵢ) / (N² − Σ rᵢcᵢ)` in exact integers, `None` when the
/// denominator is 0.
fn cohen_kappa(correct: usize, row_sums: &[usize], col_sums: &[usize], n: usize) -> Option<f64> {
    let n = n as u128;
    let chance: u128 = row_sums.iter().zip(col_sums).map(|(&r, &c)| r as u128 * c as u128).sum();
    let denominator = n * n - chance;
    if denominator == 0 {
        return None;
    }
    let numerator = (n * correct as u128) as f64 - chance as f64;
    Some(numerator / denominator as f64)
}

/// One-vs-rest ROC-AUC of `class` from its score column: the Mann–Whitney count of
/// (positive, negative) pairs ordered correctly, ties counting ½, over the number of pairs.
/// Kept doubled so it stays an integer.
fn one_vs_rest_auc(scores: &[f32], labels: &[usize], class: usize) -> Option<f64> {
    let mut scored: Vec<(f32, bool)> = scores.iter().zip(labels).map(|(&s, &l)| (s, l == class)).collect();
    let positives = scored.iter().filter(|(_, positive)| *positive).count() as u128;
    let negatives = scored.len() as u128 - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut negatives_below, mut twice_u) = (0u128, 0u128);
    let mut start = 0;
    while start < scored.len() {
        let score = scored[start].0;
        let len = scored[start..].iter().take_while(|(s, _)| *s == score).count();
        let group_positives = scored[start..start + len].iter().filter(|(_, p)| *p).count() as u128;
        let group_negatives = len as u128 - group_positives;
        twice_u += group_positives * (2 * negatives_below + group_negatives);
        negatives_below += group_negatives;
        start += len;
    }
    Some(twice_u as f64 / (2 * positives * negatives) as f64)
}

/// The nonzero off-diagonal cells, largest first, ties by (true, predicted) index.
fn most_confused(confusion: &[Vec<usize>], class_names: &[String]) -> Vec<ConfusedPair> {
    let mut cells: Vec<(usize, usize, usize)> = confusion
        .iter()
        .enumerate()
        .flat_map(|(t, row)| row.iter().enumerate().map(move |(p, &count)| (t, p, count)))
        .filter(|&(t, p, count)| t != p && count > 0)
        .collect();
    cells.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
    cells
        .into_iter()
        .take(MAX_CONFUSED_PAIRS)
        .map(|(t, p, count)| ConfusedPair { true_class: class_names[t].clone(), predicted: class_names[p].clone(), count })
        .collect()
}

impl ClassificationReport {
    /// A human-readable report: scikit-learn's `classification_report` table (with
    /// `digits=4`, character for character), then the confusion matrix, loss, kappa, top-2
    /// accuracy, the most confused pairs (`4 → 9: 12`) and the per-class ROC-AUC.
    pub fn to_text(&self) -> String {
        let mut out = self.sklearn_table(TEXT_DIGITS);
        out.push('\n');
        out.push_str(&self.confusion_text());
        let kappa = match self.kappa {
            Some(kappa) => format!("{kappa:.TEXT_DIGITS$}"),
            None => "undefined (every label and every prediction is the same class)".into(),
        };
        out.push_str(&format!("\nloss            {:.TEXT_DIGITS$}\n", self.loss));
        out.push_str(&format!("Cohen's kappa   {kappa}\n"));
        out.push_str(&format!("top-2 accuracy  {:.TEXT_DIGITS$}\n", self.top2));

        out.push_str("\nmost confused pairs (true → predicted: count)\n");
        if self.confused_pairs.is_empty() {
            out.push_str("  none\n");
        }
        for pair in &self.confused_pairs {
            out.push_str(&format!("  {} → {}: {}\n", pair.true_class, pair.predicted, pair.count));
        }

        out.push_str("\nROC-AUC, each class against the rest\n");
        let width = self.name_width();
        let total = self.macro_avg.support;
        for (class, auc) in self.per_class.iter().zip(&self.roc_auc) {
            let value = match auc {
                Some(auc) => format!("{auc:.TEXT_DIGITS$}"),
                None if class.scores.support == 0 => "undefined (no sample has this label)".into(),
                None if class.scores.support == total => "undefined (every sample has this label)".into(),
                None => "undefined".into(),
            };
            out.push_str(&format!("  {:>width$}  {value}\n", class.class));
        }
        out
    }

    /// scikit-learn's `classification_report(..., digits=digits)` text, format strings and all.
    fn sklearn_table(&self, digits: usize) -> String {
        let width = self.name_width().max("weighted avg".len()).max(digits);
        let row =
            |name: &str, s: &ClassScores| format!("{name:>width$}  {:>9.digits$} {:>9.digits$} {:>9.digits$} {:>9}\n", s.precision, s.recall, s.f1, s.support);
        let mut out = format!("{:>width$}  {:>9} {:>9} {:>9} {:>9}\n\n", "", "precision", "recall", "f1-score", "support");
        for class in &self.per_class {
            out.push_str(&row(&class.class, &class.scores));
        }
        out.push('\n');
        out.push_str(&format!("{:>width$}  {:>9} {:>9} {:>9.digits$} {:>9}\n", "accuracy", "", "", self.accuracy, self.macro_avg.support));
        out.push_str(&row("macro avg", &self.macro_avg));
        out.push_str(&row("weighted avg", &self.weighted_avg));
        out
    }

    /// The confusion matrix with class names as row (true) and column (predicted) headers.
    fn confusion_text(&self) -> String {
        let row_width = self.name_width();
        let counts = self.confusion.iter().flatten().map(|c| c.to_string().len());
        let cell = counts.chain(self.per_class.iter().map(|c| c.class.chars().count())).max().unwrap_or(1);
        let mut out = String::from("confusion matrix (rows: true class, columns: predicted class)\n");
        out.push_str(&format!("{:>row_width$}", ""));
        for class in &self.per_class {
            out.push_str(&format!("  {:>cell$}", class.class));
        }
        out.push('\n');
        for (class, counts) in self.per_class.iter().zip(&self.confusion) {
            out.push_str(&format!("{:>row_width$}", class.class));
            for count in counts {
                out.push_str(&format!("  {count:>cell$}"));
            }
            out.push('\n');
        }
        out
    }

    /// The longest class name, in characters (what `{:>w$}` pads by).
    fn name_width(&self) -> usize {
        self.per_class.iter().map(|c| c.class.chars().count()).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(k: usize) -> Vec<String> {
        (0..k).map(|i| i.to_string()).collect()
    }

    fn assert_close(found: f64, expected: f64, tol: f64, what: &str) {
        assert!((found - expected).abs() <= tol, "{what}: expected {expected}, found {found}");
    }

    fn assert_scores(found: &ClassScores, expected: [f64; 3], support: usize, tol: f64, what: &str) {
        assert_close(found.precision, expected[0], tol, &format!("{what} precision"));
        assert_close(found.recall, expected[1], tol, &format!("{what} recall"));
        assert_close(found.f1, expected[2], tol, &format!("{what} f1"));
        assert_eq!(found.support, support, "{what} support");
    }

    /// Three classes, eight samples, worked by hand. Rows are probabilities (classes 0, 1, 2):
    ///
    /// ```text
    /// n  label  row              ŷ   label's rank
    /// 0  0      .6  .3  .1       0   0
    /// 1  0      .5  .2  .3       0   0
    /// 2  0      .3  .5  .2       1   1
    /// 3  1      .2  .7  .1       1   0
    /// 4  1      .1  .8  .1       1   0
    /// 5  1      .3  .4  .3       1   0
    /// 6  2      .2  .3  .5       2   0
    /// 7  2      .5  .4  .1       0   2   ← the only top-2 miss: top-2 = 7/8
    /// ```
    /// Confusion (rows true, columns predicted) `[[2,1,0],[0,3,0],[1,0,1]]`; row sums r = (3,3,2),
    /// column sums c = (3,4,1); accuracy = 6/8.
    ///
    /// ```text
    /// class 0: tp 2, fp 1, fn 1 → P = 2/3, R = 2/3, F1 = 4/6 = 2/3
    /// class 1: tp 3, fp 1, fn 0 → P = 3/4, R = 1,   F1 = 6/7
    /// class 2: tp 1, fp 0, fn 1 → P = 1,   R = 1/2, F1 = 2/3
    /// macro:    P = (2/3 + 3/4 + 1)/3 = 29/36,  R = (2/3 + 1 + 1/2)/3 = 13/18,
    ///           F1 = (2/3 + 6/7 + 2/3)/3 = 46/63
    /// weighted: P = (3·2/3 + 3·3/4 + 2·1)/8 = 25/32,  R = (2 + 3 + 1)/8 = 3/4,
    ///           F1 = (3·2/3 + 3·6/7 + 2·2/3)/8 = 31/42
    /// κ = (N Σ Cᵢᵢ − Σ rᵢcᵢ)/(N² − Σ rᵢcᵢ) = (8·6 − (9 + 12 + 2))/(64 − 23) = 25/41
    /// ```
    /// ROC-AUC, counting (positive, negative) pairs with a win as 1 and a tie as ½:
    ///
    /// ```text
    /// class 0: positives .6 .5 .3 vs negatives .2 .1 .3 .2 .5 → 5 + 4.5 + 3.5 = 13   → 13/15
    /// class 1: positives .7 .8 .4 vs negatives .3 .2 .5 .3 .4 → 5 + 5 + 3.5 = 13.5  → 13.5/15 = 0.9
    /// class 2: positives .5 .1 vs negatives .1 .3 .2 .1 .1 .3 → 6 + 1.5 = 7.5       → 7.5/12 = 0.625
    /// ```
    /// Confused pairs: the two nonzero off-diagonal cells, both 1, ordered by true class:
    /// 0 → 1, then 2 → 0. Every value is a ratio of small integers, so 1e-12 is only rounding.
    #[test]
    fn hand_computed_three_classes() {
        #[rustfmt::skip]
        let probs = [
            0.6, 0.3, 0.1,
            0.5, 0.2, 0.3,
            0.3, 0.5, 0.2,
            0.2, 0.7, 0.1,
            0.1, 0.8, 0.1,
            0.3, 0.4, 0.3,
            0.2, 0.3, 0.5,
            0.5, 0.4, 0.1,
        ];
        let labels = [0, 0, 0, 1, 1, 1, 2, 2];
        let r = classification_report(&probs, &labels, &names(3), 0.25).unwrap();
        let tol = 1e-12;

        assert_eq!(r.confusion, vec![vec![2, 1, 0], vec![0, 3, 0], vec![1, 0, 1]]);
        assert_close(r.accuracy, 6.0 / 8.0, tol, "accuracy");
        assert_eq!(r.loss, 0.25);
        assert_scores(&r.per_class[0].scores, [2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0], 3, tol, "class 0");
        assert_scores(&r.per_class[1].scores, [3.0 / 4.0, 1.0, 6.0 / 7.0], 3, tol, "class 1");
        assert_scores(&r.per_class[2].scores, [1.0, 0.5, 2.0 / 3.0], 2, tol, "class 2");
        assert_scores(&r.macro_avg, [29.0 / 36.0, 13.0 / 18.0, 46.0 / 63.0], 8, tol, "macro");
        assert_scores(&r.weighted_avg, [25.0 / 32.0, 3.0 / 4.0, 31.0 / 42.0], 8, tol, "weighted");
        assert_close(r.kappa.unwrap(), 25.0 / 41.0, tol, "kappa");
        assert_close(r.top2, 7.0 / 8.0, tol, "top-2");
        let expected_auc = [13.0 / 15.0, 0.9, 0.625];
        for (i, (found, expected)) in r.roc_auc.iter().zip(expected_auc).enumerate() {
            assert_close(found.unwrap(), expected, tol, &format!("auc {i}"));
        }
        let pair = |t: &str, p: &str, count| ConfusedPair { true_class: t.into(), predicted: p.into(), count };
        assert_eq!(r.confused_pairs, vec![pair("0", "1", 1), pair("2", "0", 1)]);

        let text = r.to_text();
        for line in [
            "     0     0.6667    0.6667    0.6667         3\n",
            "    accuracy                         0.7500         8\n",
            "\n   0  1  2\n0  2  1  0\n1  0  3  0\n2  1  0  1\n",
            "Cohen's kappa   0.6098\n",
            "top-2 accuracy  0.8750\n",
            "  0 → 1: 1\n  2 → 0: 1\n",
            "  2  0.6250\n",
        ] {
            assert!(text.contains(line), "{line:?} not in\n{text}");
        }
    }

    /// 40 samples, 5 classes, class 4 never a label (support 0, predicted 4 times: precision
    /// and recall both hit zero division; its AUC is undefined). Golden values from
    /// scikit-learn 1.9.1, numpy 2.4.6; the probabilities are float32 and printed as the
    /// shortest string that round-trips, so the Rust literals are the very same f32 values.
    ///
    /// ```python
    /// import numpy as np
    /// from sklearn.metrics import (accuracy_score, classification_report, cohen_kappa_score,
    ///     confusion_matrix, precision_recall_fscore_support, roc_auc_score, top_k_accuracy_score)
    /// from sklearn.preprocessing import label_binarize
    ///
    /// rng = np.random.default_rng(20240601)
    /// n, k = 40, 5
    /// y = rng.integers(0, k - 1, n)  # class 4 never occurs as a label
    /// logits = 1.5 * rng.normal(size=(n, k))
    /// logits[np.arange(n), y] += 1.0
    /// p = np.exp(logits - logits.max(axis=1, keepdims=True))
    /// p = (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
    /// pred = p.argmax(axis=1)
    /// labels = list(range(k))
    /// print("probs:", ", ".join(np.format_float_positional(v, unique=True) for v in p.ravel()))
    /// print("labels:", y.tolist())
    /// for avg in [None, "macro", "weighted"]:
    ///     print(avg, [np.asarray(a).tolist() if a is not None else None for a in
    ///         precision_recall_fscore_support(y, pred, labels=labels, average=avg, zero_division=0)])
    /// print("accuracy", accuracy_score(y, pred))
    /// print("kappa", cohen_kappa_score(y, pred))
    /// print("top2", top_k_accuracy_score(y, p, k=2, labels=labels))
    /// Y = label_binarize(y, classes=labels)
    /// print("auc", [float(roc_auc_score(Y[:, i], p[:, i])) for i in labels])  # class 4: nan
    /// print(classification_report(y, pred, labels=labels, digits=4, zero_division=0))
    /// print(confusion_matrix(y, pred, labels=labels).tolist())
    /// ```
    /// The tolerance, 1e-9, allows for scikit-learn summing in another order (numpy's pairwise
    /// sums, the trapezoid over fpr/tpr) — the differences seen are ~1e-16.
    #[test]
    fn golden_scikit_learn() {
        #[rustfmt::skip]
        let probs: [f32; 200] = [
            0.95496136, 0.007202384, 0.009181056, 0.02524042, 0.0034147562, 0.20645298, 0.2449399,
            0.24901406, 0.15473613, 0.14485693, 0.57280767, 0.027058402, 0.17957984, 0.21126054,
            0.009293569, 0.035659056, 0.25086915, 0.5349668, 0.122857526, 0.055647448, 0.023507252,
            0.9038203, 0.01432903, 0.047653005, 0.010690421, 0.08010199, 0.77497435, 0.02677012,
            0.07497566, 0.04317787, 0.07187147, 0.124782376, 0.6156485, 0.13362698, 0.054070663,
            0.011819758, 0.35598478, 0.14289944, 0.109890245, 0.37940577, 0.77319956, 0.0023203413,
            0.06501935, 0.095390044, 0.0640707, 0.09021332, 0.007672184, 0.00077432476, 0.8976011,
            0.0037390161, 0.28561553, 0.59031105, 0.11600817, 0.005665095, 0.002400142, 0.08815273,
            0.6968494, 0.030332861, 0.05972458, 0.124940425, 0.2606172, 0.25946876, 0.21801639,
            0.18448497, 0.07741269, 0.013269387, 0.0026318317, 0.841585, 0.062007878, 0.08050593,
            0.0054452103, 0.60034865, 0.06272351, 0.30591017, 0.025572453, 0.2722082, 0.5274889,
            0.12834086, 0.03856091, 0.033401113, 0.018166648, 0.903377, 0.037519403, 0.039333094,
            0.0016038505, 0.0015928339, 0.06655781, 0.045109976, 0.8851601, 0.0015792799,
            0.043134518, 0.0016654556, 0.87753147, 0.07233242, 0.0053361175, 0.12203598, 0.15544385,
            0.1324998, 0.41390428, 0.17611608, 0.08868055, 0.051993538, 0.8174072, 0.03996625,
            0.0019524912, 0.064203754, 0.022346674, 0.5135404, 0.13089569, 0.2690135, 0.12271121,
            0.020096026, 0.05593727, 0.041315038, 0.75994045, 0.263047, 0.070817225, 0.16037048,
            0.41091534, 0.094849944, 0.016638493, 0.24034962, 0.547009, 0.19405511, 0.0019477516,
            0.06652013, 0.5626958, 0.043124136, 0.10476409, 0.22289585, 0.021537723, 0.03890223,
            0.033435337, 0.81717306, 0.08895163, 0.42172864, 0.10974101, 0.27737623, 0.04067874,
            0.15047535, 0.19238412, 0.010526187, 0.31136766, 0.0910604, 0.39466164, 0.0031285926,
            0.1259059, 0.25443447, 0.3601939, 0.25633714, 0.014914355, 0.5431503, 0.16079915,
            0.06093271, 0.2202035, 0.014567456, 0.116587296, 0.00510812, 0.7506499, 0.113087185,
            0.018735072, 0.019417508, 0.49782696, 0.07347346, 0.390547, 0.41715598, 0.21480198,
            0.14849855, 0.1693707, 0.05017278, 0.0354049, 0.48627648, 0.32125857, 0.052852064,
            0.104207985, 0.8154858, 0.06151983, 0.011647738, 0.09554383, 0.015802797, 0.032381017,
            0.37318844, 0.012121165, 0.08966414, 0.49264523, 0.26642007, 0.5821342, 0.026052333,
            0.07383026, 0.05156317, 0.031786505, 0.12724546, 0.33444324, 0.45514017, 0.05138462,
            0.3289111, 0.04731763, 0.21366179, 0.30361024, 0.10649925,
        ];
        let labels: [u8; 40] = [0, 3, 0, 2, 1, 1, 0, 3, 0, 0, 3, 1, 0, 2, 1, 2, 2, 3, 2, 2, 2, 1, 2, 0, 1, 2, 1, 3, 2, 3, 0, 3, 2, 0, 3, 0, 2, 2, 2, 0];
        let r = classification_report(&probs, &labels, &names(5), 0.0).unwrap();
        let tol = 1e-9;

        let precision = [0.875, 0.36363636363636365, 0.5555555555555556, 0.375, 0.0];
        let recall = [0.6363636363636364, 0.5714285714285714, 0.35714285714285715, 0.375, 0.0];
        let f1 = [0.7368421052631579, 0.4444444444444444, 0.43478260869565216, 0.375, 0.0];
        let support = [11, 7, 14, 8, 0];
        for i in 0..5 {
            assert_eq!(r.per_class[i].class, i.to_string());
            assert_scores(&r.per_class[i].scores, [precision[i], recall[i], f1[i]], support[i], tol, &format!("class {i}"));
        }
        assert_scores(&r.macro_avg, [0.4338383838383839, 0.387987012987013, 0.39821383168065083], 40, tol, "macro");
        assert_scores(&r.weighted_avg, [0.5737058080808082, 0.475, 0.5075832697686244], 40, tol, "weighted");
        assert_close(r.accuracy, 0.475, tol, "accuracy");
        assert_close(r.kappa.unwrap(), 0.32530120481927716, tol, "kappa");
        assert_close(r.top2, 0.6, tol, "top-2");
        let auc = [0.8369905956112853, 0.722943722943723, 0.6263736263736264, 0.53515625];
        for (i, expected) in auc.into_iter().enumerate() {
            assert_close(r.roc_auc[i].unwrap(), expected, tol, &format!("auc {i}"));
        }
        assert_eq!(r.roc_auc[4], None, "class 4 has no positive sample");
        #[rustfmt::skip]
        let confusion = vec![
            vec![7, 1, 1, 2, 0],
            vec![0, 4, 2, 1, 0],
            vec![0, 4, 5, 2, 3],
            vec![1, 2, 1, 3, 1],
            vec![0, 0, 0, 0, 0],
        ];
        assert_eq!(r.confusion, confusion);
        // Off-diagonal cells by count: 4 (2→1), 3 (2→4), then the 2s and 1s by (true, predicted).
        let pairs: Vec<(&str, &str, usize)> = r.confused_pairs.iter().map(|p| (p.true_class.as_str(), p.predicted.as_str(), p.count)).collect();
        #[rustfmt::skip]
        assert_eq!(pairs, [
            ("2", "1", 4), ("2", "4", 3), ("0", "3", 2), ("1", "2", 2), ("2", "3", 2), ("3", "1", 2),
            ("0", "1", 1), ("0", "2", 1), ("1", "3", 1), ("3", "0", 1),
        ]);

        // classification_report(..., digits=4), verbatim.
        let sklearn_text = "              precision    recall  f1-score   support

           0     0.8750    0.6364    0.7368        11
           1     0.3636    0.5714    0.4444         7
           2     0.5556    0.3571    0.4348        14
           3     0.3750    0.3750    0.3750         8
           4     0.0000    0.0000    0.0000         0

    accuracy                         0.4750        40
   macro avg     0.4338    0.3880    0.3982        40
weighted avg     0.5737    0.4750    0.5076        40
";
        let text = r.to_text();
        assert!(text.starts_with(sklearn_text), "expected scikit-learn's table, found\n{text}");
        assert!(text.contains("  4  undefined (no sample has this label)\n"), "{text}");
    }

    /// Ties follow the argmax's rule (lower index first), so top-1 is the accuracy:
    ///
    /// ```text
    /// label  row           ŷ  label's rank
    /// 0      .4 .4 .2      0  0             correct, top-2 hit
    /// 2      .2 .4 .4      1  1             class 1 ties and has the lower index; top-2 hit
    /// 2      .3 .3 .3      0  2             top-2 miss
    /// ```
    /// accuracy 1/3, top-2 2/3. (scikit-learn 1.9.1's `top_k_accuracy_score`, which puts the
    /// higher index first among ties, gives 3/3 for k=2 here, and 2/3 for k=1 against an
    /// `np.argmax` accuracy of 1/3.)
    #[test]
    fn ties_rank_like_the_argmax() {
        let probs = [0.4, 0.4, 0.2, 0.2, 0.4, 0.4, 0.3, 0.3, 0.3];
        let r = classification_report(&probs, &[0, 2, 2], &names(3), 0.0).unwrap();
        assert_eq!(r.confusion, vec![vec![1, 0, 0], vec![0, 0, 0], vec![1, 1, 0]]);
        assert_eq!(r.accuracy, 1.0 / 3.0);
        assert_eq!(r.top2, 2.0 / 3.0);
        // Class 0 scores: .4 (pos), .2 (neg), .3 (neg) → the positive beats both negatives.
        assert_eq!(r.roc_auc[0], Some(1.0));
        // Class 2 scores: .2 (neg), .4 (pos), .3 (pos) → both positives beat the negative.
        assert_eq!(r.roc_auc[2], Some(1.0));
        assert_eq!(r.roc_auc[1], None, "class 1 is nobody's label");
    }

    /// A signed zero ties with an unsigned one, as in numpy: positive −0.0 and negative +0.0
    /// are one tie (½), positive 1 beats the negative (1) → (1 + ½)/2.
    #[test]
    fn signed_zeros_tie_in_auc() {
        let probs = [-0.0, 1.0, 1.0, 0.0, 0.0, 1.0];
        let r = classification_report(&probs, &[0, 0, 1], &names(2), 0.0).unwrap();
        assert_eq!(r.roc_auc[0], Some(0.75));
    }

    /// Every label and every prediction is class 1: kappa is undefined (p_e = 1), every AUC is
    /// undefined, and class 0, never predicted and never a label, scores 0 throughout.
    #[test]
    fn degenerate_single_class() {
        let probs = [0.1, 0.9, 0.2, 0.8];
        let r = classification_report(&probs, &[1, 1], &names(2), 0.0).unwrap();
        assert_eq!(r.accuracy, 1.0);
        assert_eq!(r.kappa, None);
        assert_eq!(r.roc_auc, vec![None, None]);
        assert_scores(&r.per_class[0].scores, [0.0, 0.0, 0.0], 0, 0.0, "class 0");
        assert_scores(&r.per_class[1].scores, [1.0, 1.0, 1.0], 2, 0.0, "class 1");
        assert_scores(&r.macro_avg, [0.5, 0.5, 0.5], 2, 0.0, "macro");
        assert!(r.confused_pairs.is_empty());
        let text = r.to_text();
        assert!(text.contains("Cohen's kappa   undefined"), "{text}");
        assert!(text.contains("  1  undefined (every sample has this label)\n"), "{text}");
        assert!(text.contains("most confused pairs (true → predicted: count)\n  none\n"), "{text}");
    }

    /// At most ten pairs, largest first.
    #[test]
    fn confused_pairs_are_capped() {
        // 12 classes; sample i has label i and predicts (i + 1) % 12, sample 12 repeats 3 → 4.
        let k = 12;
        let mut probs = vec![0.0f32; (k + 1) * k];
        let mut labels = Vec::new();
        for i in 0..=k {
            let label = if i == k { 3 } else { i };
            probs[i * k + (label + 1) % k] = 1.0;
            labels.push(label as u8);
        }
        let r = classification_report(&probs, &labels, &names(k), 0.0).unwrap();
        assert_eq!(r.confused_pairs.len(), MAX_CONFUSED_PAIRS);
        assert_eq!((r.confused_pairs[0].true_class.as_str(), r.confused_pairs[0].count), ("3", 2));
        assert_eq!(r.confused_pairs[1].true_class, "0");
        assert_eq!(r.confused_pairs[9].true_class, "9");
    }

    /// The JSON `eval --json` writes: per-class scores flattened, undefined values as null.
    #[test]
    fn serialises_flat_with_nulls() {
        let r = classification_report(&[0.1, 0.9, 0.2, 0.8], &[1, 1], &names(2), 0.5).unwrap();
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["per_class"][1], serde_json::json!({"class": "1", "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}));
        assert_eq!(json["kappa"], serde_json::Value::Null);
        assert_eq!(json["roc_auc"], serde_json::json!([null, null]));
        assert_eq!(json["loss"], 0.5);
    }

    #[test]
    fn rejects_bad_inputs() {
        let two = names(2);
        let err = |probs: &[f32], labels: &[u8], classes: &[String]| classification_report(probs, labels, classes, 0.0).unwrap_err();
        assert!(matches!(err(&[1.0], &[0], &names(1)), Error::Config(_)), "one class");
        assert!(matches!(err(&[], &[], &[]), Error::Config(_)), "no classes");
        assert!(matches!(err(&[], &[], &two), Error::Data(_)), "no samples");
        match err(&[0.5, 0.5, 0.5], &[0, 1], &two) {
            Error::Length { shape, expected, found, .. } => {
                assert_eq!((shape, expected, found), (vec![2, 2], 4, 3))
            }
            other => panic!("expected a length error, got {other}"),
        }
        let label = err(&[0.5, 0.5, 0.5, 0.5], &[0, 2], &two);
        assert!(matches!(&label, Error::Data(m) if m.contains("label 2 of sample 1")), "{label}");
        let nan = err(&[0.5, 0.5, f32::NAN, 0.5], &[0, 1], &two);
        assert!(matches!(&nan, Error::Data(m) if m.contains("class 0 for sample 1 is NaN")), "{nan}");
        assert!(matches!(err(&[f32::INFINITY, 0.0], &[0], &two), Error::Data(_)), "infinity");
    }
}
