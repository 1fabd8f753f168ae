//! The small part of Ruby's `Marshal` format (version 4.8) that a Rack session hash needs,
//! read-only: nil, true, false, fixnums, strings (with their encoding flag), symbols and
//! symbol links, arrays and hashes of those, and the one object Rack 2.0.8+ puts into
//! every session, `Rack::Session::SessionId` with its `@public_id` string
//! (docs/migrating.md §3). Everything else — other objects, floats, bignums, object links,
//! user classes, hashes with a default — is refused, so no input can make this module
//! build anything a session does not hold. Input is capped at [`MAX_INPUT`] bytes, nesting
//! at [`MAX_DEPTH`] and collections at [`MAX_ITEMS`] entries, so decoding is cheap for any
//! bytes. Only ever called on data whose HMAC was already verified (`legacy_cookie`).

/// A decoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    /// A string's bytes (its encoding flag is dropped).
    Str(Vec<u8>),
    Symbol(String),
    Array(Vec<Value>),
    Hash(Vec<(Value, Value)>),
    /// A `Rack::Session::SessionId` object: its public id.
    SessionId(Vec<u8>),
}

impl Value {
    /// The text of a string or symbol.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Str(bytes) => std::str::from_utf8(bytes).ok(),
            Value::Symbol(s) => Some(s),
            _ => None,
        }
    }

    /// The value under `key` in a hash, whether the key was written as a string or a symbol.
    pub fn get(&self, key: &str) -> Option<&Value> {
        let Value::Hash(pairs) = self else { return None };
        pairs.iter().find(|(k, _)| k.as_text() == Some(key)).map(|(_, v)| v)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarshalError {
    #[error("not Marshal 4.8 data")]
    Version,
    #[error("truncated data")]
    Truncated,
    #[error("unsupported type byte {0:#04x}")]
    Unsupported(u8),
    #[error("unsupported object class {0}")]
    Class(String),
    #[error("too large or too deep")]
    Limit,
    #[error("malformed data")]
    Malformed,
}

/// Larger inputs are refused outright (a session cookie is at most 4 KB).
pub const MAX_INPUT: usize = 8192;
/// Deepest nesting of arrays, hashes and objects.
pub const MAX_DEPTH: usize = 8;
/// Most entries in one array or hash, and most symbols in one input.
pub const MAX_ITEMS: usize = 256;

const SESSION_ID_CLASS: &str = "Rack::Session::SessionId";

/// Decodes one whole value; trailing bytes are an error.
pub fn decode(bytes: &[u8]) -> Result<Value, MarshalError> {
    if bytes.len() > MAX_INPUT {
        return Err(MarshalError::Limit);
    }
    if bytes.get(..2) != Some(&[4, 8]) {
        return Err(MarshalError::Version);
    }
    let mut reader = Reader { bytes, pos: 2, symbols: Vec::new() };
    let value = reader.value(0)?;
    if reader.pos != bytes.len() {
        return Err(MarshalError::Malformed);
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    symbols: Vec<String>,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, MarshalError> {
        let b = *self.bytes.get(self.pos).ok_or(MarshalError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], MarshalError> {
        let end = self.pos.checked_add(n).ok_or(MarshalError::Truncated)?;
        let slice = self.bytes.get(self.pos..end).ok_or(MarshalError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    /// Ruby's packed integer: 0; 1..=4 little-endian bytes follow; -1..=-4 the same,
    /// negative; otherwise the byte itself offset by 5.
    fn int(&mut self) -> Result<i64, MarshalError> {
        let c = self.byte()? as i8;
        Ok(match c {
            0 => 0,
            1..=4 => {
                let mut n: i64 = 0;
                for i in 0..c as u32 {
                    n |= i64::from(self.byte()?) << (8 * i);
                }
                n
            }
            -4..=-1 => {
                let mut n: i64 = -1;
                for i in 0..(-c) as u32 {
                    n &= !(0xff << (8 * i));
                    n |= i64::from(self.byte()?) << (8 * i);
                }
                n
            }
            5..=127 => i64::from(c) - 5,
            _ => i64::from(c) + 5,
        })
    }

    fn len(&mut self) -> Result<usize, MarshalError> {
        let n = self.int()?;
        usize::try_from(n).map_err(|_| MarshalError::Malformed)
    }

    fn count(&mut self) -> Result<usize, MarshalError> {
        let n = self.len()?;
        if n > MAX_ITEMS {
            return Err(MarshalError::Limit);
        }
        Ok(n)
    }

    fn raw_string(&mut self) -> Result<Vec<u8>, MarshalError> {
        let n = self.len()?;
        Ok(self.take(n)?.to_vec())
    }

    /// A symbol (`:`) or symbol link (`;`), as the next thing in the input.
    fn symbol(&mut self) -> Result<String, MarshalError> {
        match self.byte()? {
            b':' => {
                let bytes = self.raw_string()?;
                let name = String::from_utf8(bytes).map_err(|_| MarshalError::Malformed)?;
                if self.symbols.len() >= MAX_ITEMS {
                    return Err(MarshalError::Limit);
                }
                self.symbols.push(name.clone());
                Ok(name)
            }
            b';' => {
                let index = self.len()?;
                self.symbols.get(index).cloned().ok_or(MarshalError::Malformed)
            }
            other => Err(MarshalError::Unsupported(other)),
        }
    }

    /// The instance variables after a string: only its encoding (`E` true/false or
    /// `encoding` "name") is allowed.
    fn string_ivars(&mut self) -> Result<(), MarshalError> {
        let n = self.count()?;
        for _ in 0..n {
            let name = self.symbol()?;
            match (name.as_str(), self.byte()?) {
                ("E", b'T' | b'F') => {}
                ("encoding", b'"') => {
                    self.raw_string()?;
                }
                _ => return Err(MarshalError::Malformed),
            }
        }
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Value, MarshalError> {
        if depth > MAX_DEPTH {
            return Err(MarshalError::Limit);
        }
        match self.byte()? {
            b'0' => Ok(Value::Nil),
            b'T' => Ok(Value::Bool(true)),
            b'F' => Ok(Value::Bool(false)),
            b'i' => Ok(Value::Int(self.int()?)),
            b'"' => Ok(Value::Str(self.raw_string()?)),
            b'I' => {
                // Only strings carry instance variables in a session.
                if self.byte()? != b'"' {
                    return Err(MarshalError::Malformed);
                }
                let bytes = self.raw_string()?;
                self.string_ivars()?;
                Ok(Value::Str(bytes))
            }
            b':' | b';' => {
                // Re-read the tag byte as part of the symbol.
                self.pos -= 1;
                Ok(Value::Symbol(self.symbol()?))
            }
            b'[' => {
                let n = self.count()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Ok(Value::Array(items))
            }
            b'{' => {
                let n = self.count()?;
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    let key = self.value(depth + 1)?;
                    let value = self.value(depth + 1)?;
                    pairs.push((key, value));
                }
                Ok(Value::Hash(pairs))
            }
            b'o' => {
                let class = self.symbol()?;
                if class != SESSION_ID_CLASS {
                    return Err(MarshalError::Class(class));
                }
                let n = self.count()?;
                let mut public_id = None;
                for _ in 0..n {
                    let name = self.symbol()?;
                    match (name.as_str(), self.value(depth + 1)?) {
                        ("@public_id", Value::Str(id)) => public_id = Some(id),
                        _ => return Err(MarshalError::Malformed),
                    }
                }
                public_id.map(Value::SessionId).ok_or(MarshalError::Malformed)
            }
            other => Err(MarshalError::Unsupported(other)),
        }
    }
}

/// Writes the same subset, the way Ruby 2.x+ `Marshal.dump` lays it out: for building
/// test cookies (and fuzz seeds) without Ruby. Never used on the request path.
pub fn dump(value: &Value) -> Vec<u8> {
    let mut out = vec![4, 8];
    let mut symbols = Vec::new();
    write(&mut out, &mut symbols, value);
    out
}

fn write_int(out: &mut Vec<u8>, n: i64) {
    match n {
        0 => out.push(0),
        1..=122 => out.push((n + 5) as u8),
        -123..=-1 => out.push((n - 5) as i8 as u8),
        _ => {
            let bytes = n.to_le_bytes();
            let mut len = 8;
            if n > 0 {
                while len > 1 && bytes[len - 1] == 0 {
                    len -= 1;
                }
                out.push(len as u8);
            } else {
                while len > 1 && bytes[len - 1] == 0xff {
                    len -= 1;
                }
                out.push((-(len as i8)) as u8);
            }
            out.extend_from_slice(&bytes[..len]);
        }
    }
}

fn write_symbol(out: &mut Vec<u8>, symbols: &mut Vec<String>, name: &str) {
    if let Some(i) = symbols.iter().position(|s| s == name) {
        out.push(b';');
        write_int(out, i as i64);
    } else {
        symbols.push(name.to_owned());
        out.push(b':');
        write_int(out, name.len() as i64);
        out.extend_from_slice(name.as_bytes());
    }
}

fn write(out: &mut Vec<u8>, symbols: &mut Vec<String>, value: &Value) {
    match value {
        Value::Nil => out.push(b'0'),
        Value::Bool(true) => out.push(b'T'),
        Value::Bool(false) => out.push(b'F'),
        Value::Int(n) => {
            out.push(b'i');
            write_int(out, *n);
        }
        Value::Str(bytes) => {
            // A UTF-8 string, as Ruby writes one: the bytes, then `E: true`.
            out.extend_from_slice(b"I\"");
            write_int(out, bytes.len() as i64);
            out.extend_from_slice(bytes);
            write_int(out, 1);
            write_symbol(out, symbols, "E");
            out.push(b'T');
        }
        Value::Symbol(name) => write_symbol(out, symbols, name),
        Value::Array(items) => {
            out.push(b'[');
            write_int(out, items.len() as i64);
            for item in items {
                write(out, symbols, item);
            }
        }
        Value::Hash(pairs) => {
            out.push(b'{');
            write_int(out, pairs.len() as i64);
            for (k, v) in pairs {
                write(out, symbols, k);
                write(out, symbols, v);
            }
        }
        Value::SessionId(id) => {
            out.push(b'o');
            write_symbol(out, symbols, SESSION_ID_CLASS);
            write_int(out, 1);
            write_symbol(out, symbols, "@public_id");
            write(out, symbols, &Value::Str(id.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::Str(text.as_bytes().to_vec())
    }

    #[test]
    fn decodes_bytes_ruby_wrote() {
        // Ruby 2.7: Marshal.dump({"session_id"=>"ab", "login"=>"alice", :n=>300, :neg=>-2, :x=>nil, :t=>true})
        let ruby: &[u8] = b"\x04\x08{\x0bI\"\x0fsession_id\x06:\x06ETI\"\x07ab\x06;\x00TI\"\x0alogin\x06;\x00TI\"\x0aalice\x06;\x00T:\x06ni\x02,\x01:\x08negi\xf9:\x06x0:\x06tT";
        let v = decode(ruby).expect("decodes");
        assert_eq!(v.get("login"), Some(&s("alice")));
        assert_eq!(v.get("session_id"), Some(&s("ab")));
        assert_eq!(v.get("n"), Some(&Value::Int(300)));
        assert_eq!(v.get("neg"), Some(&Value::Int(-2)));
        assert_eq!(v.get("x"), Some(&Value::Nil));
        assert_eq!(v.get("t"), Some(&Value::Bool(true)));
    }

    #[test]
    fn round_trips_the_subset() {
        let value = Value::Hash(vec![
            (s("session_id"), Value::SessionId(b"0123abcd".to_vec())),
            (Value::Symbol("login".into()), s("bob")),
            (s("tracking"), Value::Hash(vec![(s("HTTP_USER_AGENT"), s("da39a3ee"))])),
            (s("list"), Value::Array(vec![Value::Int(1_000_000), Value::Int(-70_000), Value::Bool(false)])),
        ]);
        assert_eq!(decode(&dump(&value)), Ok(value));
    }

    #[test]
    fn refuses_everything_else() {
        // An arbitrary object, a float, an object link, a hash with a default, a user class.
        for bad in [
            &b"\x04\x08o:\x0bObject\x00"[..],
            b"\x04\x08f\x081.5",
            b"\x04\x08[\x07[\x00@\x06",
            b"\x04\x08}\x00i\x06",
            b"\x04\x08C:\x08Foo\"\x00",
            b"\x04\x07{\x00",
            b"\x04\x08{\x06",
            b"\x04\x08{\x00extra",
            b"\x04\x08\"\x04\xff\xff\xff\x7f",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        // Deep nesting and huge counts are refused before any work.
        let mut deep = vec![4, 8];
        deep.extend(std::iter::repeat_n(b'[', 20).flat_map(|b| [b, 6]));
        deep.push(b'0');
        assert_eq!(decode(&deep), Err(MarshalError::Limit));
        assert_eq!(decode(b"\x04\x08[\x04\xff\xff\xff\x00"), Err(MarshalError::Limit));
    }
}
