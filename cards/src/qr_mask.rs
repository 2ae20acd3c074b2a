//! Choosing a QR symbol's mask fast. The standard picks the mask (of 8)
//! whose symbol scores the lowest penalty; a general encoder draws and
//! scores all 8 module by module, most of the time a health card QR took
//! (about 1.8 ms of 1.9 natively, twice that in a plugin). Here each
//! masking is formed by XOR on rows and columns held as bit sets, its
//! format bits included, and scored with shifts and popcounts.

use std::ops::{BitAnd, BitOr, BitXor, Not, Shl, Shr};

use crate::qr::EcLevel;
use crate::qr_draw::{Symbol, format_bits, format_positions, mask_flips};

/// Light modules on each side of a line's bits (for the finder rule).
const PAD: usize = 4;

/// A line of modules as a bit set of `N` words, bit `x + PAD` for module
/// `x` (two words hold up to version 25, three any version).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Line<const N: usize>([u64; N]);

impl<const N: usize> Line<N> {
    const ZERO: Self = Line([0; N]);

    fn set(&mut self, x: usize) {
        let b = x + PAD;
        self.0[b / 64] |= 1 << (b % 64);
    }

    fn span(from: usize, to: usize) -> Self {
        let mut line = Self::ZERO;
        (from..to).for_each(|x| line.set(x));
        line
    }

    fn count_ones(self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }
}

impl<const N: usize> Shr<usize> for Line<N> {
    type Output = Self;
    fn shr(self, k: usize) -> Self {
        debug_assert!(k > 0 && k < 64);
        Line(std::array::from_fn(|i| {
            self.0[i] >> k | self.0.get(i + 1).map_or(0, |w| w << (64 - k))
        }))
    }
}

impl<const N: usize> Shl<usize> for Line<N> {
    type Output = Self;
    fn shl(self, k: usize) -> Self {
        debug_assert!(k > 0 && k < 64);
        Line(std::array::from_fn(|i| {
            let carry = if i == 0 { 0 } else { self.0[i - 1] >> (64 - k) };
            self.0[i] << k | carry
        }))
    }
}

macro_rules! word_op {
    ($trait:ident, $method:ident, $op:tt) => {
        impl<const N: usize> $trait for Line<N> {
            type Output = Self;
            fn $method(self, other: Self) -> Self {
                Line(std::array::from_fn(|i| self.0[i] $op other.0[i]))
            }
        }
    };
}
word_op!(BitAnd, bitand, &);
word_op!(BitOr, bitor, |);
word_op!(BitXor, bitxor, ^);

impl<const N: usize> Not for Line<N> {
    type Output = Self;
    fn not(self) -> Self {
        Line(self.0.map(|w| !w))
    }
}

/// The penalty of rows (and their columns), as the standard scores it.
fn penalty<const N: usize>(rows: &[Line<N>], cols: &[Line<N>], size: usize) -> u32 {
    let valid = Line::<N>::span(0, size);
    let pairs = valid & (valid >> 1);
    let mut score = 0;
    for lines in [rows, cols] {
        for &x in lines {
            let x1 = x >> 1;
            // Runs of 5 or more: 3 + (length - 5) = windows of 5 + 2 per run.
            let eq = !(x ^ x1) & pairs;
            let w5 = eq & (eq >> 1) & (eq >> 2) & (eq >> 3);
            score += w5.count_ones() + 2 * (w5 & !(w5 << 1)).count_ones();
            // Finder-like 1011101 with 4 light modules on one side (the
            // quiet zone counts as light). Past the top bit zeros shift in,
            // which read as light, but the pattern's dark modules cannot
            // match there.
            let core = x & !x1 & (x >> 2) & (x >> 3) & (x >> 4) & !(x >> 5) & (x >> 6);
            let two = x | x1;
            let light4 = !(two | (two >> 2));
            let before = light4 & (core >> 4);
            let after = core & (light4 >> 7);
            score += 40 * (before.count_ones() + after.count_ones());
        }
    }
    for pair in rows.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let same = !(a ^ b) & valid;
        let block = same & (same >> 1) & !(a ^ (a >> 1));
        score += 3 * block.count_ones();
    }
    let total = (size * size) as u32;
    let dark: u32 = rows.iter().map(|r| (*r & valid).count_ones()).sum();
    let k = (dark * 20).abs_diff(total * 10) / total;
    score + 10 * k
}

/// Lines of the symbol's modules where `pick` holds; `transposed` gives
/// columns.
fn lines<const N: usize>(
    s: &Symbol,
    transposed: bool,
    pick: impl Fn(usize) -> bool,
) -> Vec<Line<N>> {
    (0..s.size)
        .map(|a| {
            let mut line = Line::ZERO;
            for b in 0..s.size {
                let (x, y) = if transposed { (a, b) } else { (b, a) };
                if pick(y * s.size + x) {
                    line.set(b);
                }
            }
            line
        })
        .collect()
}

/// Lines of where `mask` flips. Masks repeat every 6 modules along a
/// line and every 12 lines.
fn pattern<const N: usize>(mask: u8, size: usize, transposed: bool) -> Vec<Line<N>> {
    let mut out: Vec<Line<N>> = Vec::with_capacity(size);
    for a in 0..size {
        if a >= 12 {
            out.push(out[a - 12]);
            continue;
        }
        let at = |b: usize| {
            let (x, y) = if transposed { (a, b) } else { (b, a) };
            mask_flips(mask, x, y)
        };
        let period: [bool; 6] = std::array::from_fn(at);
        let mut line = Line::ZERO;
        for (b, flips) in (0..size).zip(period.iter().cycle()) {
            if *flips {
                line.set(b);
            }
        }
        out.push(line);
    }
    out
}

fn choose_with<const N: usize>(s: &Symbol, level: EcLevel) -> (u8, Vec<bool>) {
    let size = s.size;
    let formats = format_positions(size);
    let [rows, cols] = [false, true].map(|t| lines::<N>(s, t, |i| s.dark[i]));
    // The function modules are symmetric about the diagonal, so the data
    // modules' rows are their columns too.
    let data = lines::<N>(s, false, |i| !s.function[i]);
    let masked = |mask: u8, lines: &[Line<N>], transposed: bool| {
        let mut out: Vec<Line<N>> = pattern::<N>(mask, size, transposed)
            .iter()
            .zip(lines.iter().zip(&data))
            .map(|(p, (l, d))| *l ^ (*p & *d))
            .collect();
        let bits = format_bits(level, mask);
        for &(x, y, b) in &formats {
            if bits >> b & 1 == 1 {
                let (line, at) = if transposed { (x, y) } else { (y, x) };
                out[line].set(at);
            }
        }
        out
    };
    let mut best: Option<(u32, u8, Vec<Line<N>>)> = None;
    for mask in 0..8u8 {
        let mask_rows = masked(mask, &rows, false);
        let score = penalty(&mask_rows, &masked(mask, &cols, true), size);
        if best.as_ref().is_none_or(|b| score < b.0) {
            best = Some((score, mask, mask_rows));
        }
    }
    let (_, mask, rows) = best.expect("8 masks scored");
    let mut dark = Vec::with_capacity(size * size);
    for row in &rows {
        dark.extend((0..size).map(|x| {
            let b = x + PAD;
            row.0[b / 64] >> (b % 64) & 1 == 1
        }));
    }
    (mask, dark)
}

/// The mask of the lowest penalty for the unmasked symbol `s`, and the
/// symbol's modules with it and its format bits.
pub fn choose(s: &Symbol, level: EcLevel) -> (u8, Vec<bool>) {
    if s.size + 2 * PAD <= 128 {
        choose_with::<2>(s, level)
    } else {
        choose_with::<3>(s, level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_shift_across_words() {
        let mut a = Line::<3>::ZERO;
        a.set(60);
        a.set(130);
        let b = (a << 10) >> 3;
        let mut want = Line::<3>::ZERO;
        want.set(67);
        want.set(137);
        assert_eq!(b, want);
        assert_eq!((!Line::<2>::ZERO).count_ones(), 128);
    }

    #[test]
    fn penalties_match_the_standards_rules_on_small_cases() {
        // Rows of 7 dark modules alternate with light rows in a 7-wide
        // symbol: 4 dark and 3 light runs of 7 (5 points each) = 35;
        // columns alternate: no runs, no blocks; balance 4/7 dark -> k=1.
        let row = Line::<2>::span(0, 7);
        let rows = [row, Line::ZERO, row, Line::ZERO, row, Line::ZERO, row];
        let cols: Vec<Line<2>> = (0..7)
            .map(|x| {
                let mut c = Line::ZERO;
                for (y, r) in rows.iter().enumerate() {
                    if (*r & Line::span(x, x + 1)) != Line::ZERO {
                        c.set(y);
                    }
                }
                c
            })
            .collect();
        assert_eq!(penalty(&rows, &cols, 7), 35 + 10);
    }
}
