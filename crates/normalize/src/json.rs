//! A validating JSON reader that keeps only what normalization looks at: the members of the
//! top-level object and of objects nested one level down, as borrowed slices where possible.
//! It accepts exactly RFC 8259 JSON (no NaN/Infinity, no trailing commas, no control characters
//! in strings, no lone surrogates); a property test holds it to `serde_json`'s verdicts.

use std::borrow::Cow;

/// A member's value as normalization needs it.
#[derive(Clone, Debug, PartialEq)]
pub enum JsonValue<'a> {
    Null,
    Str(Cow<'a, str>),
    /// An integer literal (no fraction, no exponent) that fits in an i128.
    Int(i128),
    /// An object: its members are recorded with this member as parent.
    Object,
    /// Any other number, a boolean or an array.
    Other,
}

#[derive(Clone, Debug)]
pub struct Member<'a> {
    /// Index of the enclosing object's member, or `None` at top level.
    pub parent: Option<u32>,
    pub key: Cow<'a, str>,
    pub value: JsonValue<'a>,
}

/// The recorded members of a JSON object, in document order.
#[derive(Clone, Debug, Default)]
pub struct JsonObject<'a> {
    pub members: Vec<Member<'a>>,
}

/// Where and why the text is not JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    pub offset: usize,
    pub what: &'static str,
}

const MAX_DEPTH: usize = 128;

impl<'a> JsonObject<'a> {
    /// Looks up a path: the last member with that key wins (duplicate keys: the last wins).
    pub fn get(&self, path: &[String]) -> Option<&JsonValue<'a>> {
        let mut parent: Option<u32> = None;
        let mut found = None;
        for (depth, key) in path.iter().enumerate() {
            let (i, m) = self
                .members
                .iter()
                .enumerate()
                .rev()
                .find(|(_, m)| m.parent == parent && m.key == key.as_str())?;
            if depth + 1 < path.len() && m.value != JsonValue::Object {
                return None;
            }
            parent = Some(i as u32);
            found = Some(&m.value);
        }
        found
    }
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    out: JsonObject<'a>,
}

/// Parses `text`, which must be a single JSON value; `Ok(None)` if it is valid JSON but not an
/// object.
pub fn parse_object(text: &str) -> Result<Option<JsonObject<'_>>, JsonError> {
    let mut p = Parser {
        s: text,
        b: text.as_bytes(),
        i: 0,
        out: JsonObject::default(),
    };
    p.ws();
    let is_object = p.peek() == Some(b'{');
    p.value(0, Some(None))?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(is_object.then_some(p.out))
}

impl<'a> Parser<'a> {
    fn err(&self, what: &'static str) -> JsonError {
        JsonError {
            offset: self.i,
            what,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8, what: &'static str) -> Result<(), JsonError> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    /// Parses a value. `record`: the member index to attach an object's members to (objects at
    /// depth 0 and 1 are recorded), or None.
    fn value(
        &mut self,
        depth: usize,
        record: Option<Option<u32>>,
    ) -> Result<JsonValue<'a>, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        match self.peek() {
            Some(b'{') => {
                self.object(depth, record)?;
                Ok(JsonValue::Object)
            }
            Some(b'[') => {
                self.i += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(JsonValue::Other);
                }
                loop {
                    self.ws();
                    self.value(depth + 1, None)?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(JsonValue::Other);
                        }
                        _ => return Err(self.err("expected `,` or `]`")),
                    }
                }
            }
            Some(b'"') => Ok(JsonValue::Str(self.string()?)),
            Some(b't') => self.literal("true", JsonValue::Other),
            Some(b'f') => self.literal("false", JsonValue::Other),
            Some(b'n') => self.literal("null", JsonValue::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("expected a value")),
        }
    }

    fn literal(
        &mut self,
        word: &'static str,
        v: JsonValue<'a>,
    ) -> Result<JsonValue<'a>, JsonError> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn object(&mut self, depth: usize, record: Option<Option<u32>>) -> Result<(), JsonError> {
        self.i += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a key"));
            }
            let key = self.string()?;
            self.ws();
            self.expect(b':', "expected `:`")?;
            self.ws();
            match record {
                Some(parent) if depth <= 1 => {
                    let idx = self.out.members.len() as u32;
                    self.out.members.push(Member {
                        parent,
                        key,
                        value: JsonValue::Null,
                    });
                    let v = self.value(depth + 1, Some(Some(idx)))?;
                    self.out.members[idx as usize].value = v;
                }
                _ => {
                    self.value(depth + 1, None)?;
                }
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected `,` or `}`")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let h = self
            .b
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("short \\u escape"))?;
        let mut v = 0u32;
        for &c in h {
            v = v * 16
                + match c {
                    b'0'..=b'9' => c - b'0',
                    b'a'..=b'f' => c - b'a' + 10,
                    b'A'..=b'F' => c - b'A' + 10,
                    _ => return Err(self.err("bad \\u escape")),
                } as u32;
        }
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.i += 1;
        let start = self.i;
        // Fast path: no escapes.
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'"' => {
                    let s = &self.s[start..self.i];
                    self.i += 1;
                    return Ok(Cow::Borrowed(s));
                }
                b'\\' => break,
                0..=0x1f => return Err(self.err("control character in string")),
                _ => self.i += 1,
            }
        }
        let mut out = String::from(&self.s[start..self.i]);
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return Err(self.err("unterminated string"));
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(Cow::Owned(out));
                }
                b'\\' => {
                    self.i += 1;
                    let e = self.peek().ok_or_else(|| self.err("unterminated escape"))?;
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if !self.b[self.i..].starts_with(b"\\u") {
                                    return Err(self.err("lone surrogate"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("lone surrogate"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(self.err("lone surrogate"));
                            } else {
                                hi
                            };
                            out.push(char::from_u32(cp).ok_or_else(|| self.err("bad code point"))?);
                        }
                        _ => return Err(self.err("bad escape")),
                    }
                }
                0..=0x1f => return Err(self.err("control character in string")),
                _ => {
                    // Copy a run of plain characters (the text is valid UTF-8).
                    let run = self.i;
                    while let Some(&c) = self.b.get(self.i) {
                        if c == b'"' || c == b'\\' || c < 0x20 {
                            break;
                        }
                        self.i += 1;
                    }
                    out.push_str(&self.s[run..self.i]);
                }
            }
        }
    }

    fn number(&mut self) -> Result<JsonValue<'a>, JsonError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.i += 1;
                }
            }
            _ => return Err(self.err("bad number")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("bad fraction"));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.i += 1;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("bad exponent"));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.i += 1;
            }
        }
        if !integer {
            return Ok(JsonValue::Other);
        }
        // serde_json's integers are i64/u64; larger ones are floats there, so here too.
        let text = &self.s[start..self.i];
        if text == "-0" {
            // serde_json reads -0 as the float -0.0.
            return Ok(JsonValue::Other);
        }
        Ok(match (text.parse::<i64>(), text.parse::<u64>()) {
            (Ok(v), _) => JsonValue::Int(v as i128),
            (_, Ok(v)) => JsonValue::Int(v as i128),
            _ => JsonValue::Other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn members_and_nested_members() {
        let o = parse_object(r#" {"a":"x","n":12,"f":1.5,"d":{"code":"C\u00e9","name":null},"a":"y","arr":[1,{"z":2}]} "#)
            .unwrap()
            .unwrap();
        assert_eq!(o.get(&path("a")), Some(&JsonValue::Str("y".into())));
        assert_eq!(o.get(&path("n")), Some(&JsonValue::Int(12)));
        assert_eq!(o.get(&path("f")), Some(&JsonValue::Other));
        assert_eq!(o.get(&path("d.code")), Some(&JsonValue::Str("Cé".into())));
        assert_eq!(o.get(&path("d.name")), Some(&JsonValue::Null));
        assert_eq!(o.get(&path("d.x")), None);
        assert_eq!(o.get(&path("a.b")), None);
        assert_eq!(o.get(&path("arr")), Some(&JsonValue::Other));
        // The last `d` wins even when an earlier one was an object.
        let o = parse_object(r#"{"d":{"code":"A"},"d":"flat"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(o.get(&path("d.code")), None);
        assert_eq!(parse_object("[1]").unwrap().map(|_| ()), None);
    }

    #[test]
    fn rejects_what_json_rejects() {
        for bad in [
            "",
            "{",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "{\"a\":NaN}",
            "{\"a\":Infinity}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":.5}",
            "{\"a\":\"\u{1}\"}",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":\"\\x\"}",
            "{} {}",
            "{\"a\":tru}",
            "{\"a\":-}",
            "{\"a\":1e}",
        ] {
            assert!(parse_object(bad).is_err(), "{bad:?}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(parse_object(&deep).is_err());
    }
}
