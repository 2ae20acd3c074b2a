//! Choosing a QR code's mask fast. The standard picks the mask (of 8)
//! whose symbol scores the lowest penalty; `qrcodegen` draws and scores
//! all 8, which is most of the time a health card QR takes (about 1.8 ms of
//! 1.9 natively, twice that in a plugin). Here the code is drawn once, the
//! other 7 maskings are derived by XOR on rows held as bit sets, and each
//! is scored with shifts and popcounts; then the chosen mask is drawn.
//! The format information area is scored as drawn with mask 0: it differs
//! between masks in 15 modules, a negligible part of the score.

use qrcodegen::{Mask, QrCode, QrCodeEcc, QrSegment, Version};

/// Quiet modules on each side of a row's bits (light, for the finder rule).
const PAD: u32 = 4;

fn dark(mask: u8, x: i32, y: i32) -> bool {
    match mask {
        0 => (x + y) % 2 == 0,
        1 => y % 2 == 0,
        2 => x % 3 == 0,
        3 => (x + y) % 3 == 0,
        4 => (x / 3 + y / 2) % 2 == 0,
        5 => x * y % 2 + x * y % 3 == 0,
        6 => (x * y % 2 + x * y % 3) % 2 == 0,
        _ => ((x + y) % 2 + x * y % 3) % 2 == 0,
    }
}

fn bit(x: i32) -> u128 {
    1u128 << (x as u32 + PAD)
}

fn span(from: i32, to: i32) -> u128 {
    (from..to).fold(0, |acc, x| acc | bit(x))
}

/// Alignment pattern centres of `version` (as the standard places them).
fn alignment_positions(version: i32) -> Vec<i32> {
    if version == 1 {
        return Vec::new();
    }
    let size = version * 4 + 17;
    let count = version / 7 + 2;
    let step = if version == 32 {
        26
    } else {
        (version * 4 + count * 2 + 1) / (count * 2 - 2) * 2
    };
    let mut out: Vec<i32> = (0..count - 1).map(|i| size - 7 - i * step).collect();
    out.push(6);
    out.reverse();
    out
}

/// Each row's function modules (finders, separators, format and version
/// information, timing, alignment), which masks leave alone.
fn function_rows(version: i32) -> Vec<u128> {
    let size = version * 4 + 17;
    let mut rows = vec![0u128; size as usize];
    for (y, row) in rows.iter_mut().enumerate() {
        let y = y as i32;
        *row |= bit(6);
        if y == 6 {
            *row |= span(0, size);
        }
        if y <= 8 {
            *row |= span(0, 9) | span(size - 8, size);
        }
        if y >= size - 8 {
            *row |= span(0, 9);
        }
        if version >= 7 {
            if y <= 5 {
                *row |= span(size - 11, size - 8);
            }
            if (size - 11..size - 8).contains(&y) {
                *row |= span(0, 6);
            }
        }
    }
    let centres = alignment_positions(version);
    let last = centres.len().saturating_sub(1);
    for (i, &cy) in centres.iter().enumerate() {
        for (j, &cx) in centres.iter().enumerate() {
            let on_a_finder = (i == 0 && (j == 0 || j == last)) || (i == last && j == 0);
            if on_a_finder {
                continue;
            }
            for y in cy - 2..=cy + 2 {
                rows[y as usize] |= span(cx - 2, cx + 3);
            }
        }
    }
    rows
}

/// The penalty of rows (and their columns), as the standard scores it.
fn penalty(rows: &[u128], cols: &[u128], size: i32) -> u32 {
    let valid = span(0, size);
    let mut score = 0;
    for lines in [rows, cols] {
        for &x in lines {
            // Runs of 5 or more: 3 + (length - 5) = windows of 5 + 2 per run.
            let eq = !(x ^ (x >> 1)) & valid & (valid >> 1);
            let w5 = eq & (eq >> 1) & (eq >> 2) & (eq >> 3);
            score += w5.count_ones() + 2 * (w5 & !(w5 << 1)).count_ones();
            // Finder-like 1011101 with 4 light modules on one side.
            let light = !x;
            let at = |pattern: [bool; 11]| {
                pattern
                    .iter()
                    .enumerate()
                    .fold(u128::MAX >> 11, |m, (j, &d)| {
                        m & if d { x >> j } else { light >> j }
                    })
            };
            let t = true;
            let f = false;
            let a = at([t, f, t, t, t, f, t, f, f, f, f]);
            let b = at([f, f, f, f, t, f, t, t, t, f, t]);
            score += 40 * (a.count_ones() + b.count_ones());
        }
    }
    for pair in rows.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let same = !(a ^ b) & valid;
        let block = same & (same >> 1) & !(a ^ (a >> 1));
        score += 3 * block.count_ones();
    }
    let total = (size * size) as u32;
    let dark: u32 = rows.iter().map(|r| (r & valid).count_ones()).sum();
    let k = (dark * 20).abs_diff(total * 10) / total;
    score + 10 * k
}

/// Row `y` of where mask 0 and `mask` differ (masks repeat every 12 rows).
fn flips(mask: u8, size: i32, transposed: bool) -> Vec<u128> {
    let mut out: Vec<u128> = Vec::with_capacity(size as usize);
    for y in 0..size {
        if y >= 12 {
            out.push(out[(y - 12) as usize]);
            continue;
        }
        let row = (0..size)
            .filter(|&x| {
                let (cx, cy) = if transposed { (y, x) } else { (x, y) };
                dark(0, cx, cy) != dark(mask, cx, cy)
            })
            .fold(0, |acc, x| acc | bit(x));
        out.push(row);
    }
    out
}

fn transpose(rows: &[u128], size: i32) -> Vec<u128> {
    let mut cols = vec![0u128; size as usize];
    for (y, r) in rows.iter().enumerate() {
        for (x, col) in cols.iter_mut().enumerate() {
            if r & bit(x as i32) != 0 {
                *col |= bit(y as i32);
            }
        }
    }
    cols
}

/// The code of `segments` at `ecc` (not raised) in the smallest version
/// up to `max`, with the mask of the lowest penalty.
pub fn encode(segments: &[QrSegment], ecc: QrCodeEcc, max: Version) -> Option<QrCode> {
    let first = QrCode::encode_segments_advanced(
        segments,
        ecc,
        Version::MIN,
        max,
        Some(Mask::new(0)),
        false,
    )
    .ok()?;
    let size = first.size();
    let version = i32::from(first.version().value());
    let data: Vec<u128> = function_rows(version)
        .iter()
        .map(|f| !f & span(0, size))
        .collect();
    let data_cols = transpose(&data, size);
    let drawn: Vec<u128> = (0..size)
        .map(|y| {
            (0..size)
                .filter(|&x| first.get_module(x, y))
                .fold(0, |acc, x| acc | bit(x))
        })
        .collect();
    let drawn_cols = transpose(&drawn, size);
    let masked = |lines: &[u128], flip: &[u128], data: &[u128]| -> Vec<u128> {
        lines
            .iter()
            .zip(flip)
            .zip(data)
            .map(|((l, f), d)| l ^ (f & d))
            .collect()
    };
    let mut best = (penalty(&drawn, &drawn_cols, size), 0u8);
    for mask in 1..8u8 {
        let rows = masked(&drawn, &flips(mask, size, false), &data);
        let cols = masked(&drawn_cols, &flips(mask, size, true), &data_cols);
        let score = penalty(&rows, &cols, size);
        if score < best.0 {
            best = (score, mask);
        }
    }
    if best.1 == 0 {
        return Some(first);
    }
    let chosen = Version::new(version as u8);
    QrCode::encode_segments_advanced(
        segments,
        ecc,
        chosen,
        chosen,
        Some(Mask::new(best.1)),
        false,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_function_module_map_is_what_qrcodegen_draws_for_every_card_version() {
        for version in 1..=22u8 {
            let v = Version::new(version);
            let seg = [QrSegment::make_numeric("1")];
            let code = |m| {
                QrCode::encode_segments_advanced(
                    &seg,
                    QrCodeEcc::Low,
                    v,
                    v,
                    Some(Mask::new(m)),
                    false,
                )
                .unwrap()
            };
            let (zero, other) = (code(0), code(5));
            let size = zero.size();
            let function = function_rows(i32::from(version));
            for y in 0..size {
                for x in 0..size {
                    let flipped = zero.get_module(x, y) != other.get_module(x, y);
                    let is_function = function[y as usize] & bit(x) != 0;
                    let format = (x == 8 || y == 8) && is_function;
                    if !is_function {
                        assert_eq!(
                            flipped,
                            dark(0, x, y) != dark(5, x, y),
                            "v{version} ({x},{y})"
                        );
                    } else if !format {
                        assert!(!flipped, "v{version} ({x},{y}) is a function module");
                    }
                }
            }
        }
    }

    #[test]
    fn penalties_match_the_standards_rules_on_small_cases() {
        // One row of 7 dark modules in a 7-wide symbol: a run of 7 (5 points).
        let row = span(0, 7);
        let rows = [row, 0, row, 0, row, 0, row];
        let cols = transpose(&rows, 7);
        // rows: 4 dark runs of 7 (5 each) + 3 light runs of 7 (5 each) = 35;
        // columns alternate: no runs, no blocks; balance 4/7 dark -> k=1.
        assert_eq!(penalty(&rows, &cols, 7), 35 + 10);
    }
}
