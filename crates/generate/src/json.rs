//! Hand-written JSON: records are built byte by byte into a reused buffer (no `format!`, no
//! serializer), with correct string escaping for free text.

#[inline]
pub(crate) fn push_u64(b: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    b.extend_from_slice(&tmp[i..]);
}

/// `n` zero-padded to at least `width` digits.
#[inline]
pub(crate) fn push_padded(b: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = 1;
    let mut x = n;
    while x >= 10 {
        x /= 10;
        digits += 1;
    }
    for _ in digits..width {
        b.push(b'0');
    }
    push_u64(b, n);
}

/// Writes the contents of a JSON string (without the quotes), escaping `"`, `\` and control
/// characters; other characters are written raw (UTF-8).
#[inline]
pub(crate) fn push_escaped(b: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                b.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                b.extend_from_slice(b"\\u00");
                b.push(HEX[(c >> 4) as usize]);
                b.push(HEX[(c & 15) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        b.extend_from_slice(&bytes[start..i]);
        b.extend_from_slice(esc);
        start = i + 1;
    }
    b.extend_from_slice(&bytes[start..]);
}

/// `,"key":"value"` for a value that needs no escaping (codes, ids, reference data).
#[inline]
pub(crate) fn kv(b: &mut Vec<u8>, key: &str, value: &[u8]) {
    b.extend_from_slice(b",\"");
    b.extend_from_slice(key.as_bytes());
    b.extend_from_slice(b"\":\"");
    b.extend_from_slice(value);
    b.push(b'"');
}

/// `,"key":` — the caller writes the value.
#[inline]
pub(crate) fn key(b: &mut Vec<u8>, key: &str) {
    b.extend_from_slice(b",\"");
    b.extend_from_slice(key.as_bytes());
    b.extend_from_slice(b"\":");
}

/// `,"key":"` — the caller writes the contents and the closing quote.
#[inline]
pub(crate) fn key_open(b: &mut Vec<u8>, key: &str) {
    b.extend_from_slice(b",\"");
    b.extend_from_slice(key.as_bytes());
    b.extend_from_slice(b"\":\"");
}

/// `,"key":n` or `,"key":"n"` (a code written as an integer or a string).
#[inline]
pub(crate) fn kcode(b: &mut Vec<u8>, key_name: &str, n: u64, as_int: bool) {
    key(b, key_name);
    if as_int {
        push_u64(b, n);
    } else {
        b.push(b'"');
        push_u64(b, n);
        b.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_numbers() {
        let mut b = Vec::new();
        push_escaped(&mut b, "a\"b\\c\nd\u{1}e中");
        assert_eq!(String::from_utf8(b).unwrap(), "a\\\"b\\\\c\\nd\\u0001e中");
        let mut b = Vec::new();
        push_u64(&mut b, 0);
        b.push(b' ');
        push_u64(&mut b, u64::MAX);
        b.push(b' ');
        push_padded(&mut b, 123, 5);
        b.push(b' ');
        push_padded(&mut b, 1_234_567, 5);
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "0 18446744073709551615 00123 1234567"
        );
    }
}
