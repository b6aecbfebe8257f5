//! A validating JSON reader that keeps only what normalization looks at: the members of the
//! top-level object and of objects nested one level down, as borrowed slices where possible.
//! It accepts exactly RFC 8259 JSON (no NaN/Infinity, no trailing commas, no control characters
//! in strings, no lone surrogates) within serde_json's limits (nesting depth 127, numbers within
//! f64); a property test and the `json_reader` fuzz target hold it to `serde_json`'s verdicts.

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

/// Arrays and objects nest at most this deep: serde_json's default recursion limit.
const MAX_DEPTH: usize = 127;

type KeyMap<V> = std::collections::HashMap<
    Box<str>,
    V,
    std::hash::BuildHasherDefault<govstream_proto::hash::StableHasher>,
>;

/// The JSON fields a source reads, each with a slot: parsing records only those members.
#[derive(Clone, Debug, Default)]
pub struct FieldIndex {
    /// Top-level key → (its slot, the group of its nested fields).
    top: KeyMap<(Option<u16>, Option<u16>)>,
    /// Per group: nested key → slot.
    groups: Vec<KeyMap<u16>>,
    slots: usize,
}

impl FieldIndex {
    /// Adds a field path of one or two keys; returns its slot, or None for deeper paths.
    pub fn add(&mut self, path: &[String]) -> Option<u16> {
        match path {
            [k] => {
                let e = self.top.entry(k.as_str().into()).or_insert((None, None));
                if e.0.is_none() {
                    e.0 = Some(self.slots as u16);
                    self.slots += 1;
                }
                e.0
            }
            [k, k2] => {
                let e = self.top.entry(k.as_str().into()).or_insert((None, None));
                let g = match e.1 {
                    Some(g) => g,
                    None => {
                        e.1 = Some(self.groups.len() as u16);
                        self.groups.push(KeyMap::default());
                        self.groups.len() as u16 - 1
                    }
                };
                let slots = &mut self.slots;
                let slot = *self.groups[g as usize]
                    .entry(k2.as_str().into())
                    .or_insert_with(|| {
                        *slots += 1;
                        (*slots - 1) as u16
                    });
                Some(slot)
            }
            _ => None,
        }
    }

    pub fn slots(&self) -> usize {
        self.slots
    }
}

/// The values of a source's fields in one record, by slot (None: absent).
pub type Slots<'a> = Vec<Option<JsonValue<'a>>>;

/// Parses `text`, which must be a single JSON value, keeping the members `index` names.
/// `Ok(None)` if it is valid JSON but not an object. Duplicate keys: the last wins (also for a
/// repeated parent key: its earlier nested members are forgotten).
pub fn parse_fields<'a>(text: &'a str, index: &FieldIndex) -> Result<Option<Slots<'a>>, JsonError> {
    let mut p = Parser {
        s: text,
        b: text.as_bytes(),
        i: 0,
        out: JsonObject::default(),
    };
    let mut slots: Slots<'a> = vec![None; index.slots];
    p.ws();
    let is_object = p.peek() == Some(b'{');
    if is_object {
        p.indexed_object(index, &mut slots)?;
    } else {
        p.value(0, None)?;
    }
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(is_object.then_some(slots))
}

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
        // `depth` containers are open around this value; an array or object here is one more.
        if depth >= MAX_DEPTH && matches!(self.peek(), Some(b'{' | b'[')) {
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

    /// Parses `{ "key": value, ... }`; `member` is called after each `:` to parse the value.
    fn members(
        &mut self,
        mut member: impl FnMut(&mut Self, Cow<'a, str>) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
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
            member(self, key)?;
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

    fn object(&mut self, depth: usize, record: Option<Option<u32>>) -> Result<(), JsonError> {
        self.members(|p, key| {
            match record {
                Some(parent) if depth <= 1 => {
                    let idx = p.out.members.len() as u32;
                    p.out.members.push(Member {
                        parent,
                        key,
                        value: JsonValue::Null,
                    });
                    let v = p.value(depth + 1, Some(Some(idx)))?;
                    p.out.members[idx as usize].value = v;
                }
                _ => {
                    p.value(depth + 1, None)?;
                }
            }
            Ok(())
        })
    }

    /// The top-level object, recording indexed members into slots.
    fn indexed_object(
        &mut self,
        index: &FieldIndex,
        slots: &mut Slots<'a>,
    ) -> Result<(), JsonError> {
        self.members(|p, key| {
            let (slot, group) = index.top.get(key.as_ref()).copied().unwrap_or((None, None));
            if let Some(g) = group {
                // A repeated parent key replaces the earlier one's nested members.
                for &s in index.groups[g as usize].values() {
                    slots[s as usize] = None;
                }
            }
            let v = match group {
                Some(g) if p.peek() == Some(b'{') => {
                    let keys = &index.groups[g as usize];
                    p.members(|p, key| {
                        let v = p.value(2, None)?;
                        if let Some(&s) = keys.get(key.as_ref()) {
                            slots[s as usize] = Some(v);
                        }
                        Ok(())
                    })?;
                    JsonValue::Object
                }
                _ => p.value(1, None)?,
            };
            if let Some(s) = slot {
                slots[s as usize] = Some(v);
            }
            Ok(())
        })
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
        let text = &self.s[start..self.i];
        if integer {
            // serde_json's integers are i64/u64; larger ones are floats there, so here too.
            if text == "-0" {
                // serde_json reads -0 as the float -0.0.
                return Ok(JsonValue::Other);
            }
            if let Ok(v) = text.parse::<i64>() {
                return Ok(JsonValue::Int(v as i128));
            }
            if let Ok(v) = text.parse::<u64>() {
                return Ok(JsonValue::Int(v as i128));
            }
        }
        // A float: serde_json refuses one it reads as infinite (`1e400`, 400 digits, even
        // `1.7976931348623158e308`) as "number out of range", so the record is not JSON here
        // either. Its own number reader decides, so the verdicts agree to the last digit.
        if serde_json::from_str::<f64>(text).is_err() {
            return Err(self.err("number out of range"));
        }
        Ok(JsonValue::Other)
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

    /// Found by fuzzing (`json_reader`, input `2e66666`): numbers beyond the f64 range were
    /// accepted although serde_json refuses them ("number out of range"), and normalization
    /// used serde_json's verdict before this reader existed.
    #[test]
    fn numbers_beyond_f64_are_not_json() {
        let huge_int = "9".repeat(400);
        for bad in [
            "2e66666",
            "{\"a\":-1e309}",
            huge_int.as_str(),
            "[1.8e308]",
            // serde_json's fast float reader rounds this one up to infinity.
            "1.7976931348623158e308",
        ] {
            assert!(
                serde_json::from_str::<serde_json::Value>(bad).is_err(),
                "{bad}"
            );
            assert_eq!(
                parse_object(bad).unwrap_err().what,
                "number out of range",
                "{bad}"
            );
            assert!(parse_fields(bad, &FieldIndex::default()).is_err(), "{bad}");
        }
        for good in [
            "1.7976931348623157e308",
            "-1e308",
            "1e-400",
            "18446744073709551616",
            "0.5",
        ] {
            assert!(
                serde_json::from_str::<serde_json::Value>(good).is_ok(),
                "{good}"
            );
            assert_eq!(parse_object(good).unwrap().map(|_| ()), None, "{good}");
        }
        // So a record with one is `malformed_json`, as it was with serde_json.
        let key = std::sync::Arc::new(crate::PseudonymKey::new("k"));
        let hotline = crate::preset("hotline", key).unwrap().unwrap();
        let rec = r#"{"eventId":"e","orderNo":"o","action":"ANSWER","time":"2020-07-15T10:21:00Z","x":1e400}"#;
        let rej = hotline.normalize(rec.as_bytes()).unwrap_err();
        assert_eq!(rej.reason, crate::Reason::MalformedJson);
        assert!(hotline
            .normalize(rec.replace("1e400", "1e300").as_bytes())
            .is_ok());
    }

    /// Found with the `json_reader` fuzz target (hand-made inputs at the limit): 128 nested
    /// arrays (or objects) were accepted, 129 arrays too; serde_json stops at 127 ("recursion
    /// limit exceeded").
    #[test]
    fn nesting_limit_is_serde_jsons() {
        let arrays = |n: usize| "[".repeat(n) + "1" + &"]".repeat(n);
        let objects = |n: usize| "{\"a\":".repeat(n) + "1" + &"}".repeat(n);
        for n in [1, 126, 127, 128, 129, 130] {
            for text in [arrays(n), objects(n)] {
                let serde_ok = serde_json::from_str::<serde_json::Value>(&text).is_ok();
                assert_eq!(serde_ok, n <= 127, "serde_json at {n}");
                assert_eq!(parse_object(&text).is_ok(), serde_ok, "parse_object at {n}");
                let mut ix = FieldIndex::default();
                ix.add(&path("a.a"));
                assert_eq!(
                    parse_fields(&text, &ix).is_ok(),
                    serde_ok,
                    "parse_fields at {n}"
                );
            }
        }
    }

    #[test]
    fn indexed_fields() {
        let mut ix = FieldIndex::default();
        let a = ix.add(&path("a")).unwrap();
        let code = ix.add(&path("d.code")).unwrap();
        let d = ix.add(&path("d")).unwrap();
        assert_eq!(ix.add(&path("x.y.z")), None);
        let s = parse_fields(
            r#"{"a":"x","zz":[1],"d":{"code":"C","other":1},"a":7}"#,
            &ix,
        )
        .unwrap()
        .unwrap();
        assert_eq!(s[a as usize], Some(JsonValue::Int(7)));
        assert_eq!(s[code as usize], Some(JsonValue::Str("C".into())));
        assert_eq!(s[d as usize], Some(JsonValue::Object));
        let s = parse_fields(r#"{"d":{"code":"C"},"d":"flat"}"#, &ix)
            .unwrap()
            .unwrap();
        assert_eq!(s[code as usize], None);
        assert_eq!(s[d as usize], Some(JsonValue::Str("flat".into())));
        assert!(parse_fields(r#"{"d":{"code":}}"#, &ix).is_err());
        assert!(parse_fields("[1]", &ix).unwrap().is_none());
    }
}
