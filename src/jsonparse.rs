//! A small JSON reader for ceph-csi's config.json and the `rbd`/`rados` CLIs'
//! `--format json` output (no serde: a hundred lines beat a dependency tree).

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// A number as written: read as u64 exactly (pool ids and sizes go past f64's
    /// 2^53), never through a float.
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub offset: usize,
    pub what: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON at byte {}: {}", self.offset, self.what)
    }
}

impl Json {
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Num(n) => n.parse().ok(),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Arr(a) => Some(a),
            _ => None,
        }
    }

    /// `obj[key]` as a string, or "".
    pub fn str_at(&self, key: &str) -> &str {
        self.get(key).and_then(Json::as_str).unwrap_or("")
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 64;

impl Parser<'_> {
    fn err(&self, what: &'static str) -> ParseError {
        ParseError { offset: self.i, what }
    }

    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Json, ParseError> {
        self.ws();
        let Some(&c) = self.b.get(self.i) else { return Err(self.err("unexpected end")) };
        match c {
            b'n' if self.eat(b"null") => Ok(Json::Null),
            b't' if self.eat(b"true") => Ok(Json::Bool(true)),
            b'f' if self.eat(b"false") => Ok(Json::Bool(false)),
            b'"' => self.string().map(Json::Str),
            b'[' | b'{' => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(self.err("nested too deeply"));
                }
                let v = if c == b'[' { self.array() } else { self.object() };
                self.depth -= 1;
                v
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(self.err("unexpected character")),
        }
    }

    fn number(&mut self) -> Result<Json, ParseError> {
        let start = self.i;
        while self.i < self.b.len() && matches!(self.b[self.i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
            self.i += 1;
        }
        std::str::from_utf8(&self.b[start..self.i])
            .ok()
            .filter(|s| s.parse::<f64>().is_ok())
            .map(|s| Json::Num(s.to_string()))
            .ok_or(ParseError { offset: start, what: "bad number" })
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let s = self.b.get(self.i..self.i + 4).ok_or_else(|| self.err("short \\u escape"))?;
        let v = std::str::from_utf8(s).ok().and_then(|s| u32::from_str_radix(s, 16).ok());
        self.i += 4;
        v.ok_or_else(|| self.err("bad \\u escape"))
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let start = self.i;
            while self.i < self.b.len() && self.b[self.i] != b'"' && self.b[self.i] != b'\\' {
                self.i += 1;
            }
            out.push_str(std::str::from_utf8(&self.b[start..self.i]).map_err(|_| self.err("invalid UTF-8"))?);
            match self.b.get(self.i) {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(_) => {
                    self.i += 1;
                    let e = *self.b.get(self.i).ok_or_else(|| self.err("unterminated escape"))?;
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
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) && self.eat(b"\\u") {
                                let lo = self.hex4()?;
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF);
                            }
                            out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                        }
                        _ => return Err(self.err("bad escape")),
                    }
                }
            }
        }
    }

    fn array(&mut self) -> Result<Json, ParseError> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.eat(b"]") {
            return Ok(Json::Arr(items));
        }
        loop {
            items.push(self.value()?);
            self.ws();
            if self.eat(b"]") {
                return Ok(Json::Arr(items));
            }
            if !self.eat(b",") {
                return Err(self.err("expected , or ]"));
            }
        }
    }

    fn object(&mut self) -> Result<Json, ParseError> {
        self.i += 1;
        let mut fields = Vec::new();
        self.ws();
        if self.eat(b"}") {
            return Ok(Json::Obj(fields));
        }
        loop {
            self.ws();
            if self.b.get(self.i) != Some(&b'"') {
                return Err(self.err("expected a key"));
            }
            let k = self.string()?;
            self.ws();
            if !self.eat(b":") {
                return Err(self.err("expected :"));
            }
            fields.push((k, self.value()?));
            self.ws();
            if self.eat(b"}") {
                return Ok(Json::Obj(fields));
            }
            if !self.eat(b",") {
                return Err(self.err("expected , or }"));
            }
        }
    }
}

pub fn parse(text: &str) -> Result<Json, ParseError> {
    let mut p = Parser { b: text.as_bytes(), i: 0, depth: 0 };
    let v = p.value()?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err("trailing data"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ceph_csi_config_and_rbd_output() {
        let cfg =
            r#"[{"clusterID":"abc","monitors":["127.0.0.1:6789","v2:[::1]:3300"],"rbd":{"radosNamespace":"ns"}}]"#;
        let j = parse(cfg).unwrap();
        let c = &j.as_array().unwrap()[0];
        assert_eq!(c.str_at("clusterID"), "abc");
        assert_eq!(c.get("monitors").unwrap().as_array().unwrap().len(), 2);
        assert_eq!(c.get("rbd").unwrap().str_at("radosNamespace"), "ns");
        let info = parse(
            r#"{"name":"csi-vol-x","size":1073741824,"features":["layering"],"x":null,"t":true,"e":"a\"\u00e9\n"}"#,
        )
        .unwrap();
        assert_eq!(info.get("size").unwrap().as_u64(), Some(1 << 30));
        assert_eq!(info.str_at("e"), "a\"é\n");
    }

    #[test]
    fn integers_are_exact_past_2_to_the_53() {
        let j = parse(r#"[18446744073709551615, 9007199254740993, 1.5, -1, 0]"#).unwrap();
        let n: Vec<Option<u64>> = j.as_array().unwrap().iter().map(Json::as_u64).collect();
        assert_eq!(n, [Some(u64::MAX), Some(9_007_199_254_740_993), None, None, Some(0)]);
    }

    #[test]
    fn rejects_bad_input_with_an_offset() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "nul", "[1] x", "\"\\q\"", &"[".repeat(100)] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse("[1 2]").unwrap_err().offset, 3);
    }
}
