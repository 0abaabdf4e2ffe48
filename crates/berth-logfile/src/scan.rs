//! Byte searches of the hot loops: the writer looks for the next byte a JSON string
//! cannot hold as is (and `\n`, which ends a record); the reader for the next `"` or
//! `\`, and for `\n`.
//!
//! A plain byte-wise loop costs a compare and a branch per byte. On x86_64 sixteen
//! bytes are tested at once with SSE2 (part of every x86_64 CPU, so no detection at run
//! time): a few vector compares and one bit mask per block, about three times faster
//! than the fallback on a log of 100-byte lines. Elsewhere eight bytes are tested as one
//! `u64` (SWAR): the zero-byte test used (`(x - 0x01..) & !x & 0x80..`) can flag a byte
//! above a true zero byte by borrow, never one below, so the lowest flagged byte is
//! always a real match, which is all a "first position" search needs. Both forms are
//! compiled and tested on every target.

/// Whether a byte must not be copied into a JSON string as is (Docker's escaping):
/// controls (so `\n` too), `"`, `\`, the HTML-sensitive `<`, `>`, `&`, and every byte
/// of a non-ASCII character (it needs UTF-8 validation, and U+2028/U+2029 escaping).
#[inline(always)]
pub(crate) fn is_special(c: u8) -> bool {
    !(0x20..0x80).contains(&c) || matches!(c, b'"' | b'\\' | b'<' | b'>' | b'&')
}

#[cfg(target_arch = "x86_64")]
pub(crate) use sse2::{find_newline, find_quote_or_backslash, find_special};
#[cfg(not(target_arch = "x86_64"))]
pub(crate) use swar::{find_newline, find_quote_or_backslash, find_special};

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::*;

    use super::is_special;

    /// Position of the first `\n` in `b`.
    #[inline]
    pub(crate) fn find_newline(b: &[u8]) -> Option<usize> {
        find(b, newline, |c| c == b'\n')
    }

    /// Position of the first `"` or `\` in `b`.
    #[inline]
    pub(crate) fn find_quote_or_backslash(b: &[u8]) -> Option<usize> {
        find(b, quote_or_backslash, |c| c == b'"' || c == b'\\')
    }

    /// Position of the first byte for which [`is_special`] holds.
    #[inline]
    pub(crate) fn find_special(b: &[u8]) -> Option<usize> {
        find(b, special, is_special)
    }

    /// The first position in `b` whose bit is set in `mask` of its 16-byte block (bit
    /// k = byte k); `byte` tells the same for the last bytes that fill no block.
    #[inline(always)]
    fn find(b: &[u8], mask: impl Fn(&[u8; 16]) -> u32, byte: impl Fn(u8) -> bool) -> Option<usize> {
        let mut i = 0;
        while let Some(block) = b[i..].first_chunk::<16>() {
            let m = mask(block);
            if m != 0 {
                return Some(i + m.trailing_zeros() as usize);
            }
            i += 16;
        }
        b[i..].iter().position(|&c| byte(c)).map(|p| p + i)
    }

    #[inline(always)]
    fn newline(block: &[u8; 16]) -> u32 {
        // SAFETY: SSE2 is part of the x86_64 baseline, so these instructions exist on
        // every CPU this code runs on; the load reads exactly the 16 bytes of `block`.
        unsafe {
            let x = _mm_loadu_si128(block.as_ptr().cast());
            _mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(b'\n' as i8))) as u32
        }
    }

    #[inline(always)]
    fn quote_or_backslash(block: &[u8; 16]) -> u32 {
        // SAFETY: as in `newline`.
        unsafe {
            let x = _mm_loadu_si128(block.as_ptr().cast());
            let m = _mm_or_si128(
                _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8)),
                _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8)),
            );
            _mm_movemask_epi8(m) as u32
        }
    }

    #[inline(always)]
    fn special(block: &[u8; 16]) -> u32 {
        // SAFETY: as in `newline`.
        unsafe {
            let x = _mm_loadu_si128(block.as_ptr().cast());
            // Signed compare: bytes below 0x20 and every byte >= 0x80 (negative).
            let low_or_high = _mm_cmplt_epi8(x, _mm_set1_epi8(0x20));
            // `"` and `&` (0x22, 0x26) are the bytes that equal 0x26 with bit 2 set,
            // `<` and `>` (0x3c, 0x3e) those that equal 0x3e with bit 1 set.
            let quote_amp =
                _mm_cmpeq_epi8(_mm_or_si128(x, _mm_set1_epi8(0x04)), _mm_set1_epi8(0x26));
            let angle = _mm_cmpeq_epi8(_mm_or_si128(x, _mm_set1_epi8(0x02)), _mm_set1_epi8(0x3e));
            let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
            let m = _mm_or_si128(
                _mm_or_si128(low_or_high, quote_amp),
                _mm_or_si128(angle, backslash),
            );
            _mm_movemask_epi8(m) as u32
        }
    }
}

/// The portable form, eight bytes at a time.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
mod swar {
    use super::is_special;

    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;

    #[inline(always)]
    fn word(b: &[u8], i: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(w)
    }

    /// High bit set in each byte of `x` that is zero (exact for the lowest such byte).
    #[inline(always)]
    fn zero_bytes(x: u64) -> u64 {
        x.wrapping_sub(LO) & !x & HI
    }

    /// Flags the bytes of `x` equal to `c`.
    #[inline(always)]
    fn eq(x: u64, c: u8) -> u64 {
        zero_bytes(x ^ (LO * c as u64))
    }

    #[inline(always)]
    fn find(b: &[u8], mask: impl Fn(u64) -> u64, byte: impl Fn(u8) -> bool) -> Option<usize> {
        let mut i = 0;
        while i + 8 <= b.len() {
            let m = mask(word(b, i));
            if m != 0 {
                return Some(i + (m.trailing_zeros() / 8) as usize);
            }
            i += 8;
        }
        b[i..].iter().position(|&c| byte(c)).map(|p| p + i)
    }

    pub(crate) fn find_newline(b: &[u8]) -> Option<usize> {
        find(b, |x| eq(x, b'\n'), |c| c == b'\n')
    }

    pub(crate) fn find_quote_or_backslash(b: &[u8]) -> Option<usize> {
        find(
            b,
            |x| eq(x, b'"') | eq(x, b'\\'),
            |c| c == b'"' || c == b'\\',
        )
    }

    pub(crate) fn find_special(b: &[u8]) -> Option<usize> {
        const SPACE: u64 = LO * 0x20;
        // Bytes below 0x20 (`x - 0x20` borrows into the high bit while `!x` has it) or
        // with the high bit set; `"`/`&` and `<`/`>` as in the SSE2 form; and `\`.
        let mask = |x: u64| {
            (((x.wrapping_sub(SPACE) & !x) | x) & HI)
                | eq(x | (LO * 0x04), 0x26)
                | eq(x | (LO * 0x02), 0x3e)
                | eq(x, b'\\')
        };
        find(b, mask, is_special)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(b: &[u8], f: impl Fn(u8) -> bool) -> Option<usize> {
        b.iter().position(|&c| f(c))
    }

    #[test]
    fn searches_match_the_naive_ones() {
        // Every byte value at every position of a 40-byte plain buffer, alone and with
        // a second match after it (borrow effects), and short tails; both forms.
        let plain = b'a';
        let nl = |c| c == b'\n';
        let qb = |c| c == b'"' || c == b'\\';
        for v in 0..=255u8 {
            for at in 0..40 {
                for second in [None, Some(at + 1), Some(39)] {
                    let mut b = [plain; 40];
                    b[at] = v;
                    if let Some(s) = second.filter(|&s| s > at && s < 40) {
                        b[s] = b'\n';
                    }
                    for len in [at, at + 1, 40] {
                        let s = &b[..len];
                        assert_eq!(find_newline(s), naive(s, nl), "{v} {at}");
                        assert_eq!(swar::find_newline(s), naive(s, nl), "{v} {at}");
                        assert_eq!(find_quote_or_backslash(s), naive(s, qb), "{v} {at}");
                        assert_eq!(swar::find_quote_or_backslash(s), naive(s, qb));
                        assert_eq!(find_special(s), naive(s, is_special), "{v} {at}");
                        assert_eq!(swar::find_special(s), naive(s, is_special), "{v} {at}");
                    }
                }
            }
        }
        assert_eq!(find_newline(b""), None);
        assert_eq!(find_special(b"\x8a\x0a"), Some(0));
        assert_eq!(find_newline(b"\x8a\x0a"), Some(1));
        // A zero byte right below a match must not hide it, nor be taken for it.
        for f in [find_newline, swar::find_newline] {
            assert_eq!(f(b"\x00\x0a\x00\x00\x00\x00\x00\x00"), Some(1));
            assert_eq!(f(b"\x0b\x0a\x00\x00\x00\x00\x00\x00"), Some(1));
        }
    }

    #[test]
    fn special_bytes_are_the_documented_ones() {
        let specials: Vec<u8> = (0..=255u8).filter(|&c| is_special(c)).collect();
        let mut want: Vec<u8> = (0..0x20).collect();
        want.extend_from_slice(b"\"&<>\\");
        want.extend(0x80..=0xff);
        want.sort_unstable();
        assert_eq!(specials, want);
    }
}
