//! The Keras-style summary table of a network: layer, output shape, parameter count.

use super::Sequential;

impl Sequential {
    /// The Keras-style table: layer, output shape, parameter count.
    pub fn summary(&self) -> String {
        let mut rows = vec![("Layer (type)".to_string(), "Output shape".to_string(), "Param #".to_string())];
        rows.push(("input".to_string(), format!("{:?}", self.architecture().input), "0".into()));
        let mut total = 0;
        let mut non_trainable = 0;
        for (i, l) in self.layers().iter().enumerate() {
            let count: usize = l.params().iter().map(|p| p.value.len()).sum();
            let frozen: usize = l.params().iter().filter(|p| !p.is_trainable() || self.lr_factors()[i] == 0.0).map(|p| p.value.len()).sum();
            total += count;
            non_trainable += frozen;
            let d = l.describe();
            let name = if d.is_empty() { format!("{i}: {}", l.kind()) } else { format!("{i}: {} ({d})", l.kind()) };
            let name = if self.lr_factors()[i] == 0.0 && count > 0 { format!("{name} [frozen]") } else { name };
            rows.push((name, format!("{:?}", l.output_shape()), thousands(count)));
        }
        let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0) + 2;
        let w1 = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0) + 2;
        let w2 = rows.iter().map(|r| r.2.chars().count()).max().unwrap_or(0);
        let rule = "─".repeat(w0 + w1 + w2);
        let mut out = format!("Model: {}\n{rule}\n", self.architecture().name);
        for (i, (a, b, c)) in rows.iter().enumerate() {
            let pad0 = w0 - a.chars().count();
            let pad1 = w1 - b.chars().count();
            out += &format!("{a}{}{b}{}{c:>w2$}\n", " ".repeat(pad0), " ".repeat(pad1));
            if i == 0 {
                out += &format!("{rule}\n");
            }
        }
        out += &format!(
            "{rule}\nTotal params: {}\nTrainable params: {}\nNon-trainable params: {}\nForward FLOPs per image: {}\n",
            thousands(total),
            thousands(total - non_trainable),
            thousands(non_trainable),
            thousands(self.flops())
        );
        out
    }
}

/// `688138` → `688,138`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_separators() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(688_138), "688,138");
        assert_eq!(super::thousands(12_345_678), "12,345,678");
    }
}
