//! The IDX format of MNIST and its relatives (Fashion-MNIST, KMNIST, EMNIST), gzipped or raw.
//!
//! Layout: a big-endian u32 magic `0x0000 TT DD` (TT = 0x08 for unsigned bytes, DD = number of
//! dimensions), DD big-endian u32 dimensions, then the values. Images are `[N, rows, cols]`
//! (magic 0x00000803), labels `[N]` (0x00000801).

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// Largest decompressed file accepted (a guard against decompression bombs): 1 GiB.
pub const MAX_IDX_BYTES: u64 = 1 << 30;

/// SHA-256 of the four standard MNIST files after decompression.
pub const MNIST_SHA256: [(&str, &str); 4] = [
    ("train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    ("train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    ("t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    ("t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
];

/// A parsed IDX file of unsigned bytes.
#[derive(Debug, Clone)]
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads a file, decompressing it if it is gzip (by its magic bytes, not its name).
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decompress_maybe_gz(raw, path)
}

/// `raw` decompressed if it is gzip (by its magic bytes), as it is otherwise; at most
/// [`MAX_IDX_BYTES`] come out. `path` names the file in errors.
pub fn decompress_maybe_gz(raw: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&raw[..]).take(MAX_IDX_BYTES + 1).read_to_end(&mut out).map_err(|e| Error::format(path, format!("corrupt gzip data: {e}")))?;
    if out.len() as u64 > MAX_IDX_BYTES {
        return Err(Error::format(path, format!("decompresses to more than {MAX_IDX_BYTES} bytes")));
    }
    Ok(out)
}

/// Parses IDX bytes (already decompressed); `path` names the file in errors.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Idx> {
    if bytes.len() < 4 {
        return Err(Error::format(path, format!("too short for an IDX file ({} bytes)", bytes.len())));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || bytes[3] == 0 {
        return Err(Error::format(path, format!("wrong magic number {magic:#010x}: not an IDX file of unsigned bytes")));
    }
    let nd = bytes[3] as usize;
    let header = 4 + 4 * nd;
    if bytes.len() < header {
        return Err(Error::format(path, "truncated IDX header".to_string()));
    }
    let dims: Vec<usize> = (0..nd).map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize).collect();
    let expected = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let found = bytes.len() - header;
    match expected {
        Some(e) if e == found => Ok(Idx { dims, data: bytes[header..].to_vec() }),
        Some(e) if e > found => Err(Error::format(path, format!("truncated: dimensions {dims:?} need {e} bytes of data, found {found}"))),
        Some(e) => Err(Error::format(path, format!("{} bytes of trailing data after the {e} the dimensions {dims:?} call for", found - e))),
        None => Err(Error::format(path, format!("dimensions {dims:?} overflow"))),
    }
}

/// Reads and parses an IDX file; with `sha256`, also checks the decompressed contents' hash.
pub fn read(path: &Path, sha256: Option<&str>) -> Result<Idx> {
    let bytes = read_maybe_gz(path)?;
    if let Some(want) = sha256 {
        let got: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        if got != want {
            return Err(Error::format(path, format!("SHA-256 {got} differs from the standard MNIST file's {want}: the file is damaged or not MNIST")));
        }
    }
    parse(&bytes, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = magic.to_be_bytes().to_vec();
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn parses_images_and_labels() {
        let p = Path::new("x");
        let i = parse(&idx(0x803, &[2, 2, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), p).unwrap();
        assert_eq!(i.dims, vec![2, 2, 3]);
        assert_eq!(i.data[11], 12);
        assert_eq!(parse(&idx(0x801, &[3], &[7, 8, 9]), p).unwrap().data, vec![7, 8, 9]);
    }

    #[test]
    fn bad_files_are_named_errors() {
        let p = Path::new("bad.idx");
        let wrong_magic = parse(&idx(0x1234, &[1], &[0]), p).unwrap_err().to_string();
        assert!(wrong_magic.contains("bad.idx") && wrong_magic.contains("magic"), "{wrong_magic}");
        assert!(parse(&idx(0x803, &[2, 2, 2], &[0; 7]), p).unwrap_err().to_string().contains("truncated"));
        assert!(parse(&idx(0x801, &[2], &[0; 3]), p).unwrap_err().to_string().contains("trailing"));
        assert!(parse(&[0, 0], p).is_err());
        assert!(parse(&idx(0x803, &[u32::MAX, u32::MAX, u32::MAX], &[]), p).is_err());
    }
}
