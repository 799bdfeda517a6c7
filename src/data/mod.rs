//! Data sets: images of one channel as bytes, with labels.

pub mod augment;
pub mod folder;
pub mod idx;
pub mod numbers;
pub mod render;
pub mod scenes;
pub mod split;

use crate::error::{Error, Result};
use crate::network::arch::Normalization;
use crate::tensor::Tensor;
use crate::vision::{Gray, Pipeline};
use std::path::{Path, PathBuf};

/// The MNIST copy shipped in the repository.
pub fn shipped_mnist_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist"))
}

/// Which half of a four-file IDX data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    fn stem(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

/// Grey-scale images `[n, rows, cols]` as bytes, and one label per image.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.images[i * n..(i + 1) * n]
    }

    /// Number of classes implied by the labels (largest label + 1).
    pub fn classes(&self) -> usize {
        self.labels.iter().copied().max().map_or(0, |m| m as usize + 1)
    }

    /// The images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let n = self.rows * self.cols;
        let mut images = Vec::with_capacity(indices.len() * n);
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        Dataset { images, labels: indices.iter().map(|&i| self.labels[i]).collect(), rows: self.rows, cols: self.cols }
    }

    /// The first `n` images (all if fewer).
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        self.subset(&(0..n).collect::<Vec<_>>())
    }

    /// Every image through an input pipeline (as the model that reads them would prepare the
    /// same image from a file), in parallel; returns the prepared set and how many images the
    /// pipeline rejected (no digit found), which are kept as they were.
    pub fn prepared(&self, pipeline: Pipeline) -> (Dataset, usize) {
        use rayon::prelude::*;
        let n = self.rows * self.cols;
        let mut images = self.images.clone();
        let rejected: usize = images
            .par_chunks_mut(n.max(1))
            .map(|img| {
                let gray = Gray { width: self.cols, height: self.rows, pixels: img.to_vec() };
                match pipeline.prepare(&gray, self.rows, self.cols) {
                    Ok(p) => {
                        img.copy_from_slice(&p);
                        0
                    }
                    Err(_) => 1,
                }
            })
            .sum();
        (Dataset { images, ..self.clone_empty() }, rejected)
    }

    /// Labels and sizes without images.
    fn clone_empty(&self) -> Dataset {
        Dataset { images: Vec::new(), labels: self.labels.clone(), rows: self.rows, cols: self.cols }
    }

    /// Writes the images at `indices` into `x` as `[k, 1, rows, cols]` network inputs and their
    /// labels into `labels`, reusing both buffers.
    pub fn fill_batch(&self, indices: &[usize], norm: &Normalization, x: &mut Tensor, labels: &mut Vec<u8>) {
        x.resize(indices.len(), &[1, self.rows, self.cols]);
        labels.clear();
        let n = self.rows * self.cols;
        for (dst, &i) in x.data.chunks_mut(n).zip(indices) {
            for (d, &p) in dst.iter_mut().zip(self.image(i)) {
                *d = norm.apply(p);
            }
            labels.push(self.labels[i]);
        }
    }

    /// Loads one split of a four-file IDX data set from `dir` (`train-…` or `t10k-…`, gzipped
    /// or raw). With `verify_mnist`, the files must be the standard MNIST files (SHA-256).
    pub fn load_idx(dir: &Path, split: Split, verify_mnist: bool) -> Result<Dataset> {
        if !dir.is_dir() {
            return Err(Error::format(dir, "data directory not found"));
        }
        let find = |kind: &str| -> Result<(PathBuf, &'static str)> {
            let stem = format!("{}-{kind}", split.stem());
            let hash = idx::MNIST_SHA256.iter().find(|(n, _)| n.starts_with(&stem)).map(|(_, h)| *h).expect("known stem");
            for name in
                [format!("{stem}-idx{}-ubyte.gz", if kind == "images" { 3 } else { 1 }), format!("{stem}-idx{}-ubyte", if kind == "images" { 3 } else { 1 })]
            {
                let p = dir.join(name);
                if p.is_file() {
                    return Ok((p, hash));
                }
            }
            Err(Error::format(dir, format!("no {stem}-idx{}-ubyte[.gz] file", if kind == "images" { 3 } else { 1 })))
        };
        let (ipath, ihash) = find("images")?;
        let (lpath, lhash) = find("labels")?;
        let images = idx::read(&ipath, verify_mnist.then_some(ihash))?;
        let labels = idx::read(&lpath, verify_mnist.then_some(lhash))?;
        Dataset::from_idx(images, labels, &ipath, &lpath)
    }

    /// The data set of an images file `[N, rows, cols]` and a labels file `[N]` (named by
    /// `ipath` and `lpath` in errors): their shapes must agree and not be empty.
    pub fn from_idx(images: idx::Idx, labels: idx::Idx, ipath: &Path, lpath: &Path) -> Result<Dataset> {
        if images.dims.len() != 3 {
            return Err(Error::format(ipath, format!("expected images [N, rows, cols], found dimensions {:?}", images.dims)));
        }
        if labels.dims.len() != 1 {
            return Err(Error::format(lpath, format!("expected labels [N], found dimensions {:?}", labels.dims)));
        }
        if images.dims[0] != labels.dims[0] {
            return Err(Error::Data(format!("{} holds {} images but {} holds {} labels", ipath.display(), images.dims[0], lpath.display(), labels.dims[0])));
        }
        if images.dims[0] == 0 || images.dims[1] == 0 || images.dims[2] == 0 {
            return Err(Error::format(ipath, format!("empty image set {:?}", images.dims)));
        }
        Ok(Dataset { images: images.data, labels: labels.data, rows: images.dims[1], cols: images.dims[2] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_mnist_test_split_loads_and_verifies() {
        let d = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, true).unwrap();
        assert_eq!((d.len(), d.rows, d.cols, d.classes()), (10_000, 28, 28, 10));
        // The first test digit of MNIST is a 7, the second a 2.
        assert_eq!(&d.labels[..3], &[7, 2, 1]);
    }

    #[test]
    fn missing_directory_is_an_error() {
        let e = Dataset::load_idx(Path::new("/no/such/dir"), Split::Train, false).unwrap_err().to_string();
        assert!(e.contains("/no/such/dir"), "{e}");
    }
}
