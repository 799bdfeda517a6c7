//! Image-folder data sets: one sub-folder per class (sorted folder names are the class
//! names), images of any format and size, each made into the model's input by its input
//! pipeline ([`Pipeline`]): a photo of a digit into MNIST's format, or grey levels resized as
//! they are.

use super::Dataset;
use crate::error::{Error, Result};
use crate::vision::{load_luma, Pipeline};
use std::path::Path;

/// Most classes a folder data set may have (labels are bytes).
pub const MAX_CLASSES: usize = 256;

/// Loads `dir` as a data set of `rows × cols` images made by `pipeline`; returns it with the
/// class names. Unreadable images, and images the pipeline finds no digit in, are errors naming
/// the file (a data set with holes would train silently on less than the user thinks).
pub fn load(dir: &Path, pipeline: Pipeline, rows: usize, cols: usize) -> Result<(Dataset, Vec<String>)> {
    load_with_kinds(dir, pipeline, rows, cols).map(|(d, names, _)| (d, names))
}

/// [`load`], and for each image whether it was already in MNIST's format
/// ([`crate::vision::pipeline::is_mnist_format`]): which network of a built-in model reads it
/// (`Model::for_image`), so `eval --folder` scores each image as `predict` reads it.
pub fn load_with_kinds(dir: &Path, pipeline: Pipeline, rows: usize, cols: usize) -> Result<(Dataset, Vec<String>, Vec<bool>)> {
    let read_dir = |d: &Path| std::fs::read_dir(d).map_err(|e| Error::io(d, e));
    let mut classes: Vec<String> = read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    classes.sort();
    if classes.len() < 2 {
        return Err(Error::format(dir, format!("needs one sub-folder per class (at least 2), found {}", classes.len())));
    }
    if classes.len() > MAX_CLASSES {
        return Err(Error::format(dir, format!("{} class folders; at most {MAX_CLASSES}", classes.len())));
    }
    let mut images = Vec::new();
    let mut labels = Vec::new();
    let mut mnist_format = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let mut files: Vec<_> = read_dir(&dir.join(class))?.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()).collect();
        files.sort();
        for f in files {
            let g = load_luma(&f)?;
            let input = pipeline.prepare(&g, rows, cols).map_err(|e| Error::format(&f, e.to_string()))?;
            images.extend_from_slice(&input);
            labels.push(label as u8);
            mnist_format.push(crate::vision::pipeline::is_mnist_format(&g));
        }
    }
    if labels.is_empty() {
        return Err(Error::format(dir, "the class folders hold no images"));
    }
    Ok((Dataset { images, labels, rows, cols }, classes, mnist_format))
}

/// Writes `data` as class folders of PNGs under `out` (`out/<class>/<index>.png`).
pub fn export(data: &Dataset, class_names: &[String], out: &Path) -> Result<usize> {
    for name in class_names {
        let dir = out.join(name);
        // Never write through a link planted in the output folder.
        if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::format(&dir, "is a symbolic link; the export writes only into real folders"));
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    for i in 0..data.len() {
        let class = class_names.get(data.labels[i] as usize).ok_or_else(|| Error::Data(format!("label {} has no class name", data.labels[i])))?;
        let path = out.join(class).join(format!("{i:05}.png"));
        let img = image::GrayImage::from_raw(data.cols as u32, data.rows as u32, data.image(i).to_vec()).expect("buffer matches size");
        // A link in the file's place is replaced, not followed.
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
        img.save(&path).map_err(|e| Error::io(&path, std::io::Error::other(e.to_string())))?;
    }
    Ok(data.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_replaces_links_instead_of_following_them() {
        let mnist = Dataset::load_idx(&super::super::shipped_mnist_dir(), super::super::Split::Test, false).unwrap().take(3);
        let dir = std::env::temp_dir().join(format!("digitnet-export-links-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = dir.join("out");
        let names: Vec<String> = (0..10).map(|d| d.to_string()).collect();
        std::fs::create_dir_all(out.join(&names[mnist.labels[0] as usize])).unwrap();
        let victim = dir.join("victim.txt");
        std::fs::write(&victim, b"precious").unwrap();
        let planted = out.join(&names[mnist.labels[0] as usize]).join("00000.png");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        export(&mnist, &names, &out).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(!std::fs::symlink_metadata(&planted).unwrap().file_type().is_symlink());
        // A class folder that is a link is refused.
        let elsewhere = dir.join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        let out2 = dir.join("out2");
        std::fs::create_dir_all(&out2).unwrap();
        std::os::unix::fs::symlink(&elsewhere, out2.join(&names[mnist.labels[1] as usize])).unwrap();
        let e = export(&mnist, &names, &out2).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    }

    #[test]
    fn export_then_load_round_trips() {
        let mnist = Dataset::load_idx(&super::super::shipped_mnist_dir(), super::super::Split::Test, false).unwrap().take(30);
        let dir = std::env::temp_dir().join(format!("digitnet-folder-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let names: Vec<String> = (0..10).map(|d| d.to_string()).collect();
        assert_eq!(export(&mnist, &names, &dir).unwrap(), 30);
        let (back, classes) = load(&dir, Pipeline::Resize, 28, 28).unwrap();
        assert_eq!(classes, names);
        assert_eq!(back.len(), 30);
        // Same multiset of (label, image) pairs; order is by class folder then file name.
        let mut a: Vec<(u8, Vec<u8>)> = (0..30).map(|i| (mnist.labels[i], mnist.image(i).to_vec())).collect();
        let mut b: Vec<(u8, Vec<u8>)> = (0..30).map(|i| (back.labels[i], back.image(i).to_vec())).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
        // Resizing to another input size works, and a folder without class folders is an error.
        assert_eq!(load(&dir, Pipeline::Resize, 14, 14).unwrap().0.image(0).len(), 196);
        assert!(load(&dir.join("0"), Pipeline::Resize, 28, 28).is_err());
        std::fs::write(dir.join("3").join("broken.png"), b"not a png").unwrap();
        assert!(load(&dir, Pipeline::Resize, 28, 28).unwrap_err().to_string().contains("broken.png"));
    }
}
