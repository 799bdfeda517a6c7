//! Train/validation splits: seeded, and stratified by class where labels matter.

use crate::init::Rng;

/// Splits `n` training images into (train, validation) index lists by a seeded permutation.
pub fn split_indices(n: usize, val: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut all: Vec<usize> = (0..n).collect();
    Rng::derived(seed, 1).shuffle(&mut all);
    let valid = all[..val].to_vec();
    let mut train = all[val..].to_vec();
    train.sort_unstable(); // the order is drawn afresh each epoch anyway
    (train, valid)
}

/// As [`split_indices`], but each class gives its share of the `val` validation images
/// (rounded down, the remainder from the largest classes first), so class proportions match.
pub fn split_indices_stratified(labels: &[u8], val: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let n = labels.len();
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); 256];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    let mut rng = Rng::derived(seed, 1);
    let mut quota: Vec<usize> = by_class.iter().map(|c| c.len() * val / n.max(1)).collect();
    let mut order: Vec<usize> = (0..256).collect();
    order.sort_by_key(|&c| std::cmp::Reverse(by_class[c].len()));
    let mut short = val.saturating_sub(quota.iter().sum());
    for &c in order.iter().cycle().take(256 * 4) {
        if short == 0 {
            break;
        }
        if quota[c] < by_class[c].len() {
            quota[c] += 1;
            short -= 1;
        }
    }
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for (c, members) in by_class.iter_mut().enumerate() {
        rng.shuffle(members);
        valid.extend_from_slice(&members[..quota[c]]);
        train.extend_from_slice(&members[quota[c]..]);
    }
    train.sort_unstable();
    valid.sort_unstable();
    (train, valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 100 images of class 0 and 50 of class 1, 30 for validation: 20 and 10, every index
    /// exactly once.
    #[test]
    fn stratified_split_keeps_proportions() {
        let labels: Vec<u8> = (0..150).map(|i| u8::from(i >= 100)).collect();
        let (train, val) = split_indices_stratified(&labels, 30, 4);
        assert_eq!(val.iter().filter(|&&i| labels[i] == 0).count(), 20);
        assert_eq!(val.iter().filter(|&&i| labels[i] == 1).count(), 10);
        let mut all: Vec<usize> = train.iter().chain(&val).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..150).collect::<Vec<_>>());
        // Rounding: 3 classes of 10, 7 for validation → 3 + 2 + 2.
        let labels: Vec<u8> = (0..30).map(|i| (i / 10) as u8).collect();
        assert_eq!(split_indices_stratified(&labels, 7, 1).1.len(), 7);
    }
}
