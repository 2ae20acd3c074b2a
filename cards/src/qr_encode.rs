//! QR codewords (ISO/IEC 18004): the segments' bit stream, padded to the
//! version's data capacity, split into blocks, each with its Reed-Solomon
//! error correction codewords, and interleaved. Field products come from
//! log/antilog tables and the division works a word at a time (a general
//! encoder's bit-by-bit products were a tenth of a certificate's cost in
//! a plugin).

use crate::qr::EcLevel;

/// A segment of the text.
#[derive(Debug, Clone, Copy)]
pub enum Segment<'a> {
    /// Bytes, 8 bits each.
    Bytes(&'a [u8]),
    /// ASCII digits, 10 bits per 3.
    Numeric(&'a [u8]),
}

/// Error correction codewords per block, by version (index 0 unused).
const ECC_PER_BLOCK: [[u8; 41]; 2] = [
    [
        0, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28, 28, 28,
        30, 30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30,
    ],
    [
        0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28,
        28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    ],
];

/// Error correction blocks, by version (index 0 unused).
const BLOCKS: [[u8; 41]; 2] = [
    [
        0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8, 8, 9, 9, 10, 12, 12, 12, 13,
        14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25,
    ],
    [
        0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21,
        23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49,
    ],
];

fn table(level: EcLevel) -> usize {
    match level {
        EcLevel::L => 0,
        EcLevel::M => 1,
    }
}

/// Modules left for codewords (and remainder bits) in `version`.
pub fn raw_data_modules(version: usize) -> usize {
    let mut n = (16 * version + 128) * version + 64;
    if version >= 2 {
        let align = version / 7 + 2;
        n -= (25 * align - 10) * align - 55;
        if version >= 7 {
            n -= 36;
        }
    }
    n
}

/// Data (not error correction) codewords of `version` at `level`.
pub fn data_codewords(version: usize, level: EcLevel) -> usize {
    let t = table(level);
    raw_data_modules(version) / 8
        - usize::from(ECC_PER_BLOCK[t][version]) * usize::from(BLOCKS[t][version])
}

fn count_bits(segment: &Segment, version: usize) -> usize {
    let band = match version {
        1..=9 => 0,
        10..=26 => 1,
        _ => 2,
    };
    match segment {
        Segment::Numeric(_) => [10, 12, 14][band],
        Segment::Bytes(_) => [8, 16, 16][band],
    }
}

fn segment_bits(segment: &Segment, version: usize) -> Option<usize> {
    let (len, data) = match segment {
        Segment::Numeric(d) => (d.len(), d.len() / 3 * 10 + [0, 4, 7][d.len() % 3]),
        Segment::Bytes(b) => (b.len(), b.len() * 8),
    };
    let count = count_bits(segment, version);
    (len < 1 << count).then_some(4 + count + data)
}

/// Bits appended most significant first.
struct Bits {
    bytes: Vec<u8>,
    len: usize,
}

impl Bits {
    fn push(&mut self, value: u32, count: usize) {
        for i in (0..count).rev() {
            if self.len.is_multiple_of(8) {
                self.bytes.push(0);
            }
            if value >> i & 1 == 1 {
                *self.bytes.last_mut().expect("pushed") |= 0x80 >> (self.len % 8);
            }
            self.len += 1;
        }
    }
}

/// The smallest version up to `max` whose capacity at `level` holds the
/// segments.
pub fn version_for(segments: &[Segment], level: EcLevel, max: usize) -> Option<usize> {
    (1..=max.min(40)).find(|&v| {
        let bits: Option<usize> = segments.iter().map(|s| segment_bits(s, v)).sum();
        bits.is_some_and(|b| b <= data_codewords(v, level) * 8)
    })
}

/// The padded data codewords of the segments in `version`.
fn data_stream(segments: &[Segment], version: usize, level: EcLevel) -> Vec<u8> {
    let capacity = data_codewords(version, level);
    let mut bits = Bits {
        bytes: Vec::with_capacity(capacity),
        len: 0,
    };
    for segment in segments {
        let count = count_bits(segment, version);
        match segment {
            Segment::Numeric(digits) => {
                bits.push(0b0001, 4);
                bits.push(digits.len() as u32, count);
                for group in digits.chunks(3) {
                    let n = group.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
                    bits.push(n, group.len() * 3 + 1);
                }
            }
            Segment::Bytes(bytes) => {
                bits.push(0b0100, 4);
                bits.push(bytes.len() as u32, count);
                for &b in *bytes {
                    bits.push(u32::from(b), 8);
                }
            }
        }
    }
    let terminator = (capacity * 8 - bits.len).min(4);
    bits.push(0, terminator);
    bits.push(0, (8 - bits.len % 8) % 8);
    for pad in [0xEC, 0x11].into_iter().cycle() {
        if bits.bytes.len() == capacity {
            break;
        }
        bits.bytes.push(pad);
    }
    bits.bytes
}

/// GF(2^8) antilogarithms (doubled, so a sum of two logs needs no modulo)
/// and logarithms, modulo x^8 + x^4 + x^3 + x^2 + 1.
struct Field {
    exp: [u8; 512],
    log: [u8; 256],
}

const FIELD: Field = {
    let mut exp = [0u8; 512];
    let mut log = [0u8; 256];
    let mut x: u16 = 1;
    let mut i = 0;
    while i < 255 {
        exp[i] = x as u8;
        exp[i + 255] = x as u8;
        log[x as usize] = i as u8;
        x <<= 1;
        if x & 0x100 != 0 {
            x ^= 0x11D;
        }
        i += 1;
    }
    Field { exp, log }
};

fn multiply(a: u8, b: u8) -> u8 {
    if a == 0 || b == 0 {
        return 0;
    }
    FIELD.exp[usize::from(FIELD.log[usize::from(a)]) + usize::from(FIELD.log[usize::from(b)])]
}

/// The generator polynomial of `degree`, highest coefficient (1) dropped.
fn generator(degree: usize) -> Vec<u8> {
    let mut g = vec![0u8; degree];
    g[degree - 1] = 1;
    let mut root = 1u8;
    for _ in 0..degree {
        for j in 0..degree {
            g[j] = multiply(g[j], root);
            if j + 1 < degree {
                g[j] ^= g[j + 1];
            }
        }
        root = multiply(root, 2);
    }
    g
}

/// Reed-Solomon division by one generator, 8 remainder bytes per word
/// (most significant first): each data byte shifts the remainder by a
/// byte and XORs in the generator times a factor, taken from a table of
/// all 256 multiples.
struct Divider {
    multiples: Vec<[u64; 4]>,
    degree: usize,
}

impl Divider {
    fn new(generator: &[u8]) -> Divider {
        let multiples = (0..=255u8)
            .map(|f| {
                let mut words = [0u64; 4];
                for (j, &g) in generator.iter().enumerate() {
                    words[j / 8] |= u64::from(multiply(g, f)) << (56 - 8 * (j % 8));
                }
                words
            })
            .collect();
        Divider {
            multiples,
            degree: generator.len(),
        }
    }

    /// The error correction codewords of `data`.
    fn remainder(&self, data: &[u8]) -> Vec<u8> {
        let mut r = [0u64; 4];
        for &b in data {
            let factor = b ^ (r[0] >> 56) as u8;
            r = [
                r[0] << 8 | r[1] >> 56,
                r[1] << 8 | r[2] >> 56,
                r[2] << 8 | r[3] >> 56,
                r[3] << 8,
            ];
            let m = &self.multiples[usize::from(factor)];
            for (w, m) in r.iter_mut().zip(m) {
                *w ^= m;
            }
        }
        r.iter()
            .flat_map(|w| w.to_be_bytes())
            .take(self.degree)
            .collect()
    }
}

/// Every codeword of the segments in `version`, interleaved as placed.
pub fn codewords(segments: &[Segment], version: usize, level: EcLevel) -> Vec<u8> {
    let data = data_stream(segments, version, level);
    let t = table(level);
    let blocks = usize::from(BLOCKS[t][version]);
    let ecc_len = usize::from(ECC_PER_BLOCK[t][version]);
    let raw = raw_data_modules(version) / 8;
    let short_blocks = blocks - raw % blocks;
    let short_len = raw / blocks;
    let divider = Divider::new(&generator(ecc_len));
    let mut data_blocks = Vec::with_capacity(blocks);
    let mut ecc_blocks = Vec::with_capacity(blocks);
    let mut at = 0;
    for i in 0..blocks {
        let len = short_len - ecc_len + usize::from(i >= short_blocks);
        let block = &data[at..at + len];
        at += len;
        ecc_blocks.push(divider.remainder(block));
        data_blocks.push(block);
    }
    let mut out = Vec::with_capacity(raw);
    for i in 0..=short_len - ecc_len {
        for block in &data_blocks {
            if let Some(&b) = block.get(i) {
                out.push(b);
            }
        }
    }
    for i in 0..ecc_len {
        for block in &ecc_blocks {
            out.push(block[i]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_products_match_the_bitwise_definition() {
        fn slow(x: u8, y: u8) -> u8 {
            let mut z: u8 = 0;
            for i in (0..8).rev() {
                z = (z << 1) ^ ((z >> 7) * 0x1D);
                z ^= ((y >> i) & 1) * x;
            }
            z
        }
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                assert_eq!(multiply(a, b), slow(a, b), "{a} * {b}");
            }
        }
    }

    #[test]
    fn capacities_are_the_standards() {
        // Version 1-L holds 19 data codewords, 22-L 1006, 40-M 2334.
        assert_eq!(data_codewords(1, EcLevel::L), 19);
        assert_eq!(data_codewords(22, EcLevel::L), 1006);
        assert_eq!(data_codewords(40, EcLevel::M), 2334);
        let digits = [b'1'; 41];
        assert_eq!(
            version_for(&[Segment::Numeric(&digits)], EcLevel::L, 40),
            Some(1)
        );
        let more = [b'1'; 42];
        assert_eq!(
            version_for(&[Segment::Numeric(&more)], EcLevel::L, 40),
            Some(2)
        );
    }
}
