//! Parsing of channel colours into RGBA.

use crate::css_colors::CSS_COLORS;
use crate::settings::Color;

impl Color {
    /// The colour as `[r, g, b, a]`, or `None` when the text or components are not a
    /// colour pydantic's `Color` would accept.
    pub fn rgba(&self) -> Option<[u8; 4]> {
        match self {
            Self::Text(text) => parse_text(text),
            Self::Components(c) => from_components(c),
        }
    }

    /// `RRGGBB` in upper-case hex (the NGFF `omero` colour form).
    pub fn hex_rgb(&self) -> Option<String> {
        self.rgba()
            .map(|[r, g, b, _]| format!("{r:02X}{g:02X}{b:02X}"))
    }
}

fn parse_text(text: &str) -> Option<[u8; 4]> {
    let lower = text.trim().to_ascii_lowercase();
    if let Ok(i) = CSS_COLORS.binary_search_by(|(name, _)| name.cmp(&lower.as_str())) {
        let [r, g, b] = CSS_COLORS[i].1;
        return Some([r, g, b, 255]);
    }
    let hex = lower
        .strip_prefix('#')
        .or_else(|| lower.strip_prefix("0x"))
        .unwrap_or(&lower);
    if let Some(rgba) = parse_hex(hex) {
        return Some(rgba);
    }
    let inner = lower
        .strip_prefix("rgba(")
        .or_else(|| lower.strip_prefix("rgb("))?
        .strip_suffix(')')?;
    let parts: Option<Vec<f64>> = inner.split(',').map(|p| p.trim().parse().ok()).collect();
    from_components(&parts?)
}

fn parse_hex(hex: &str) -> Option<[u8; 4]> {
    if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let digit = |i: usize| u8::from_str_radix(&hex[i..=i], 16).ok();
    let pair = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    match hex.len() {
        3 | 4 => {
            let mut out = [255u8; 4];
            for (i, slot) in out.iter_mut().enumerate().take(hex.len()) {
                *slot = digit(i)? * 17;
            }
            Some(out)
        }
        6 | 8 => {
            let mut out = [255u8; 4];
            for (i, slot) in out.iter_mut().enumerate().take(hex.len() / 2) {
                *slot = pair(2 * i)?;
            }
            Some(out)
        }
        _ => None,
    }
}

fn from_components(c: &[f64]) -> Option<[u8; 4]> {
    let channel = |v: f64| (0.0..=255.0).contains(&v).then(|| v.round() as u8);
    match c {
        [r, g, b] => Some([channel(*r)?, channel(*g)?, channel(*b)?, 255]),
        [r, g, b, a] if (0.0..=1.0).contains(a) => Some([
            channel(*r)?,
            channel(*g)?,
            channel(*b)?,
            (a * 255.0).round() as u8,
        ]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(color: Color, expected: Option<[u8; 4]>) {
        assert_eq!(color.rgba(), expected, "{color:?}");
    }

    #[test]
    fn parses_every_form() {
        check(Color::Text("red".into()), Some([255, 0, 0, 255]));
        check(Color::Text("Lime".into()), Some([0, 255, 0, 255]));
        check(Color::Text("#00f".into()), Some([0, 0, 255, 255]));
        check(Color::Text("#ff00ff".into()), Some([255, 0, 255, 255]));
        check(Color::Text("#ff00ff80".into()), Some([255, 0, 255, 128]));
        check(Color::Text("rgb(1, 2, 3)".into()), Some([1, 2, 3, 255]));
        check(
            Color::Components(vec![10.0, 20.0, 30.0]),
            Some([10, 20, 30, 255]),
        );
        check(
            Color::Components(vec![10.0, 20.0, 30.0, 0.5]),
            Some([10, 20, 30, 128]),
        );
        check(Color::Text("not-a-colour".into()), None);
        check(Color::Components(vec![300.0, 0.0, 0.0]), None);
    }

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(CSS_COLORS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
