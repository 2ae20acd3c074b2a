//! A QR code as a 1-bit greyscale PNG. Each module row is `scale`
//! identical pixel rows, so the zlib stream is written directly: one
//! fixed-Huffman DEFLATE block holding each distinct pixel row as
//! literals and its repeats as one back-reference to the row before (a
//! general compressor searched for those matches and was most of the
//! PNG's cost in a plugin).

/// Modules of quiet zone around a rendered code.
pub const QUIET: usize = 4;

/// Bits appended least significant first, as DEFLATE packs them.
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    fn bits(&mut self, value: u32, count: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// A Huffman code, sent most significant bit first (the literal
    /// table holds the same, reversed ahead of time).
    fn code(&mut self, code: u32, len: u32) {
        let reversed = code.reverse_bits() >> (32 - len);
        self.bits(reversed, len);
    }

    /// A literal byte in the fixed code.
    fn literal(&mut self, b: u8) {
        let (code, len) = LITERALS[usize::from(b)];
        self.bits(u32::from(code), u32::from(len));
    }

    /// A length/distance pair (3 <= len <= 258) in the fixed code.
    fn reference(&mut self, len: usize, distance: usize) {
        const LEN_BASE: [usize; 29] = [
            3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99,
            115, 131, 163, 195, 227, 258,
        ];
        const LEN_EXTRA: [u32; 29] = [
            0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
        ];
        const DIST_BASE: [usize; 30] = [
            1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
            1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
        ];
        let i = LEN_BASE.iter().rposition(|&b| b <= len).expect("len >= 3");
        let symbol = 257 + i as u32;
        if symbol < 280 {
            self.code(symbol - 256, 7);
        } else {
            self.code(0xC0 + symbol - 280, 8);
        }
        self.bits((len - LEN_BASE[i]) as u32, LEN_EXTRA[i]);
        let d = DIST_BASE
            .iter()
            .rposition(|&b| b <= distance)
            .expect("distance >= 1");
        self.code(d as u32, 5);
        let extra = if d < 4 { 0 } else { (d as u32 - 2) / 2 };
        self.bits((distance - DIST_BASE[d]) as u32, extra);
    }

    /// `total` bytes repeating the `distance` bytes before them.
    fn repeat(&mut self, mut total: usize, distance: usize) {
        while total > 0 {
            // Never leave a tail shorter than a reference's 3 bytes.
            let len = match total {
                0..=258 => total,
                259..=260 => total - 3,
                _ => 258,
            };
            self.reference(len, distance);
            total -= len;
        }
    }
}

/// The fixed code of each literal byte, bit-reversed as sent, and its
/// length.
const LITERALS: [(u16, u8); 256] = {
    let mut table = [(0u16, 0u8); 256];
    let mut b = 0;
    while b < 256 {
        let (code, len) = if b < 144 {
            (0x30 + b as u32, 8)
        } else {
            (0x190 + b as u32 - 144, 9)
        };
        table[b] = ((code.reverse_bits() >> (32 - len)) as u16, len as u8);
        b += 1;
    }
    table
};

/// Extends an Adler-32 state by `data` repeated `times` times: one pass
/// over `data` for its sum and weighted sum, then arithmetic per repeat.
fn adler32(adler: &mut (u64, u64), data: &[u8], times: usize) {
    const MOD: u64 = 65521;
    let n = data.len() as u64;
    let (mut sum, mut weighted) = (0u64, 0u64);
    for (i, &b) in data.iter().enumerate() {
        sum += u64::from(b);
        weighted += (n - i as u64) * u64::from(b);
    }
    let (sum, weighted) = (sum % MOD, weighted % MOD);
    for _ in 0..times {
        adler.1 = (adler.1 + n % MOD * adler.0 + weighted) % MOD;
        adler.0 = (adler.0 + sum) % MOD;
    }
}

/// The PNG of `dark` (`width` modules per row), `scale` pixels per module,
/// with a 4-module quiet zone.
pub fn png(dark: &[bool], width: usize, scale: usize) -> Vec<u8> {
    let side = (width + 2 * QUIET) * scale;
    let row_bytes = side.div_ceil(8);
    let line = row_bytes + 1; // filter byte 0, then the pixels (1 is white)
    let white: Vec<u8> = std::iter::once(0)
        .chain(std::iter::repeat_n(0xff, row_bytes))
        .collect();
    let mut z = BitWriter {
        out: vec![0x78, 0x01],
        acc: 0,
        n: 0,
    };
    let mut adler = (1u64, 0u64);
    z.bits(1, 1); // the last block
    z.bits(1, 2); // fixed Huffman codes
    let mut emit = |z: &mut BitWriter, row: &[u8], times: usize| {
        row.iter().for_each(|&b| z.literal(b));
        z.repeat(line * (times - 1), line);
        adler32(&mut adler, row, times);
    };
    emit(&mut z, &white, QUIET * scale);
    for my in 0..width {
        let mut row = white.clone();
        for mx in (0..width).filter(|&mx| dark[my * width + mx]) {
            for x in (mx + QUIET) * scale..(mx + QUIET + 1) * scale {
                row[1 + x / 8] &= !(0x80 >> (x % 8));
            }
        }
        emit(&mut z, &row, scale);
    }
    emit(&mut z, &white, QUIET * scale);
    z.code(0, 7); // end of block
    z.bits(0, 7); // to a byte boundary
    let mut idat = z.out;
    idat.extend_from_slice(&((adler.1 << 16 | adler.0) as u32).to_be_bytes());

    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(side as u32).to_be_bytes());
    ihdr.extend_from_slice(&(side as u32).to_be_bytes());
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]); // 1-bit greyscale
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The image's pixel rows, inflated by miniz_oxide.
    #[test]
    fn adler32_of_repeats_is_the_definition() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut fast = (1u64, 0u64);
        adler32(&mut fast, &data[..77], 40);
        adler32(&mut fast, &data, 3);
        let (mut a, mut b) = (1u64, 0u64);
        for &x in data[..77].repeat(40).iter().chain(&data.repeat(3)) {
            a = (a + u64::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(fast, (a, b));
    }

    fn pixels(png: &[u8]) -> Vec<u8> {
        let len = u32::from_be_bytes(png[33..37].try_into().unwrap()) as usize;
        assert_eq!(&png[37..41], b"IDAT");
        let idat = &png[41..41 + len];
        miniz_oxide::inflate::decompress_to_vec_zlib(idat).expect("a valid zlib stream")
    }

    #[test]
    fn the_stream_inflates_to_the_scaled_modules_with_a_valid_adler32() {
        // A 3x3 pattern at scales that need one, several and split repeats.
        let dark = [true, false, true, false, true, false, true, true, false];
        for scale in [1, 2, 5, 40] {
            let png = png(&dark, 3, scale);
            let raw = pixels(&png);
            let side = (3 + 2 * QUIET) * scale;
            let row_bytes = side.div_ceil(8);
            assert_eq!(raw.len(), side * (row_bytes + 1), "scale {scale}");
            for py in 0..side {
                let row = &raw[py * (row_bytes + 1)..(py + 1) * (row_bytes + 1)];
                assert_eq!(row[0], 0);
                for px in 0..side {
                    let white = row[1 + px / 8] & (0x80 >> (px % 8)) != 0;
                    let (mx, my) = (px / scale, py / scale);
                    let inside =
                        (QUIET..QUIET + 3).contains(&mx) && (QUIET..QUIET + 3).contains(&my);
                    let want_dark = inside && dark[(my - QUIET) * 3 + mx - QUIET];
                    assert_eq!(!white, want_dark, "scale {scale} pixel ({px},{py})");
                }
            }
        }
    }
}
