//! Drawing a QR symbol (ISO/IEC 18004): function patterns (finders,
//! separators, timing, alignment, version information), the codewords in
//! the two-column zigzag. `qr_mask` then masks the data and adds the
//! format information.

use crate::qr::EcLevel;

/// A symbol being drawn: modules row by row, `true` for dark, and which
/// of them are function modules (masks leave those alone).
pub struct Symbol {
    pub size: usize,
    pub dark: Vec<bool>,
    pub function: Vec<bool>,
}

/// Whether mask `mask` flips the module at column `x`, row `y`.
pub fn mask_flips(mask: u8, x: usize, y: usize) -> bool {
    match mask {
        0 => (x + y).is_multiple_of(2),
        1 => y.is_multiple_of(2),
        2 => x.is_multiple_of(3),
        3 => (x + y).is_multiple_of(3),
        4 => (x / 3 + y / 2).is_multiple_of(2),
        5 => x * y % 2 + x * y % 3 == 0,
        6 => (x * y % 2 + x * y % 3).is_multiple_of(2),
        _ => ((x + y) % 2 + x * y % 3).is_multiple_of(2),
    }
}

/// Alignment pattern centres of `version` (as the standard places them).
pub fn alignment_positions(version: usize) -> Vec<usize> {
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
    let mut out: Vec<usize> = (0..count - 1).map(|i| size - 7 - i * step).collect();
    out.push(6);
    out.reverse();
    out
}

/// The 15 format bits of `level` and `mask` (BCH code, then the fixed XOR).
pub fn format_bits(level: EcLevel, mask: u8) -> u32 {
    let level_bits = match level {
        EcLevel::L => 1,
        EcLevel::M => 0,
    };
    let data = level_bits << 3 | u32::from(mask);
    let mut rem = data;
    for _ in 0..10 {
        rem = (rem << 1) ^ ((rem >> 9) * 0x537);
    }
    (data << 10 | rem) ^ 0x5412
}

/// Where each format bit goes: (column, row, bit index), both copies.
pub fn format_positions(size: usize) -> Vec<(usize, usize, u32)> {
    let mut out = Vec::with_capacity(30);
    for i in 0..6 {
        out.push((8, i, i as u32));
    }
    out.extend([(8, 7, 6), (8, 8, 7), (7, 8, 8)]);
    for i in 9..15 {
        out.push((14 - i, 8, i as u32));
    }
    for i in 0..8 {
        out.push((size - 1 - i, 8, i as u32));
    }
    for i in 8..15 {
        out.push((8, size - 15 + i, i as u32));
    }
    out
}

impl Symbol {
    fn set(&mut self, x: usize, y: usize, dark: bool) {
        let i = y * self.size + x;
        self.dark[i] = dark;
        self.function[i] = true;
    }

    fn finder(&mut self, cx: usize, cy: usize) {
        for dy in -4i32..=4 {
            for dx in -4i32..=4 {
                let (x, y) = (cx as i32 + dx, cy as i32 + dy);
                if (0..self.size as i32).contains(&x) && (0..self.size as i32).contains(&y) {
                    let distance = dx.abs().max(dy.abs());
                    self.set(x as usize, y as usize, distance != 2 && distance != 4);
                }
            }
        }
    }

    /// The function patterns of `version`, with the format area reserved
    /// (light) and the always-dark module set.
    fn functions(version: usize) -> Symbol {
        let size = version * 4 + 17;
        let mut s = Symbol {
            size,
            dark: vec![false; size * size],
            function: vec![false; size * size],
        };
        for i in 0..size {
            s.set(6, i, i % 2 == 0);
            s.set(i, 6, i % 2 == 0);
        }
        s.finder(3, 3);
        s.finder(size - 4, 3);
        s.finder(3, size - 4);
        let centres = alignment_positions(version);
        let last = centres.len().saturating_sub(1);
        for (i, &cy) in centres.iter().enumerate() {
            for (j, &cx) in centres.iter().enumerate() {
                if (i == 0 && (j == 0 || j == last)) || (i == last && j == 0) {
                    continue;
                }
                for y in cy - 2..=cy + 2 {
                    for x in cx - 2..=cx + 2 {
                        s.set(x, y, x.abs_diff(cx).max(y.abs_diff(cy)) != 1);
                    }
                }
            }
        }
        for (x, y, _) in format_positions(size) {
            s.set(x, y, false);
        }
        s.set(8, size - 8, true);
        if version >= 7 {
            let mut rem = version as u32;
            for _ in 0..12 {
                rem = (rem << 1) ^ ((rem >> 11) * 0x1F25);
            }
            let bits = (version as u32) << 12 | rem;
            for i in 0..18 {
                let dark = bits >> i & 1 == 1;
                let (a, b) = (size - 11 + i % 3, i / 3);
                s.set(a, b, dark);
                s.set(b, a, dark);
            }
        }
        s
    }

    /// The unmasked symbol of `version` holding `codewords` (remainder
    /// bits light).
    pub fn draw(version: usize, codewords: &[u8]) -> Symbol {
        let mut s = Symbol::functions(version);
        let size = s.size;
        let total = codewords.len() * 8;
        let mut bit = 0;
        let mut right = size - 1;
        loop {
            if right == 6 {
                right = 5;
            }
            let upward = (right + 1) & 2 == 0;
            for vert in 0..size {
                let y = if upward { size - 1 - vert } else { vert };
                for x in [right, right - 1] {
                    let i = y * size + x;
                    if !s.function[i] && bit < total {
                        s.dark[i] = codewords[bit >> 3] >> (7 - (bit & 7)) & 1 == 1;
                        bit += 1;
                    }
                }
            }
            if right < 2 {
                break;
            }
            right -= 2;
        }
        s
    }
}
