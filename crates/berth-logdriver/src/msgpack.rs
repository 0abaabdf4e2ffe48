//! The few MessagePack encodings the fluentd forward protocol needs (spec:
//! msgpack.org), written by hand to keep the shim free of dependencies.

pub fn array(out: &mut Vec<u8>, len: usize) {
    match len {
        0..=15 => out.push(0x90 | len as u8),
        16..=0xffff => {
            out.push(0xdc);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdd);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
}

pub fn map(out: &mut Vec<u8>, len: usize) {
    match len {
        0..=15 => out.push(0x80 | len as u8),
        16..=0xffff => {
            out.push(0xde);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdf);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
}

/// A str (raw bytes: fluentd takes invalid UTF-8 in str as is).
pub fn str(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    match len {
        0..=31 => out.push(0xa0 | len as u8),
        32..=0xff => {
            out.push(0xd9);
            out.push(len as u8);
        }
        0x100..=0xffff => {
            out.push(0xda);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdb);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
    out.extend_from_slice(s);
}

pub fn uint(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=0x7f => out.push(v as u8),
        0x80..=0xff => {
            out.push(0xcc);
            out.push(v as u8);
        }
        0x100..=0xffff => {
            out.push(0xcd);
            out.extend_from_slice(&(v as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xce);
            out.extend_from_slice(&(v as u32).to_be_bytes());
        }
        _ => {
            out.push(0xcf);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

/// Fluentd's EventTime: ext type 0, seconds and nanoseconds as big-endian u32s.
pub fn event_time(out: &mut Vec<u8>, secs: u32, nanos: u32) {
    out.extend_from_slice(&[0xd7, 0x00]);
    out.extend_from_slice(&secs.to_be_bytes());
    out.extend_from_slice(&nanos.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_the_spec() {
        let mut o = Vec::new();
        array(&mut o, 3);
        map(&mut o, 1);
        str(&mut o, b"ab");
        uint(&mut o, 5);
        uint(&mut o, 300);
        uint(&mut o, 1_700_000_000);
        assert_eq!(
            o,
            [0x93, 0x81, 0xa2, b'a', b'b', 0x05, 0xcd, 0x01, 0x2c, 0xce, 0x65, 0x53, 0xf1, 0x00]
        );
        let mut o = Vec::new();
        str(&mut o, &[b'x'; 40]);
        assert_eq!(&o[..2], &[0xd9, 40]);
        let mut o = Vec::new();
        event_time(&mut o, 1, 2);
        assert_eq!(o, [0xd7, 0, 0, 0, 0, 1, 0, 0, 0, 2]);
    }
}
