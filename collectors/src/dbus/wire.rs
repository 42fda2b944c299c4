//! The D-Bus wire format, pure: type signatures, values, and whole messages to and from bytes.
//!
//! Only what a client calling methods needs: every basic type, strings, object paths,
//! signatures, variants, arrays, structs and dict entries. Messages are written little-endian
//! and read in either byte order (the bus daemon relays a message in its sender's order).
//! Reading checks every length, alignment and nesting limit of the specification, so a
//! truncated or garbage message is a `ParseError`, never a panic or a huge allocation.

use crate::error::ParseError;

/// Longest message the specification allows (128 MiB).
pub const MAX_MESSAGE: usize = 128 << 20;
/// Longest array the specification allows (64 MiB).
const MAX_ARRAY: usize = 64 << 20;
/// Array and struct nesting limits of the specification (32 each).
const MAX_NESTING: usize = 32;
/// Variants may nest too; their depth counts against this overall limit.
const MAX_DEPTH: usize = 64;

/// A complete D-Bus type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Type {
    /// `y`
    Byte,
    /// `b`
    Bool,
    /// `n`
    I16,
    /// `q`
    U16,
    /// `i`
    I32,
    /// `u`
    U32,
    /// `x`
    I64,
    /// `t`
    U64,
    /// `d`
    Double,
    /// `s`
    Str,
    /// `o`
    ObjectPath,
    /// `g`
    Signature,
    /// `h` (an index into the message's file descriptors; nodex never passes any)
    UnixFd,
    /// `v`
    Variant,
    /// `a<element>`
    Array(Box<Type>),
    /// `(<fields>)`
    Struct(Vec<Type>),
    /// `{<key><value>}`, only as an array element
    DictEntry(Box<Type>, Box<Type>),
}

impl Type {
    /// The alignment of the type's values on the wire.
    pub fn alignment(&self) -> usize {
        match self {
            Type::Byte | Type::Signature | Type::Variant => 1,
            Type::I16 | Type::U16 => 2,
            Type::Bool
            | Type::I32
            | Type::U32
            | Type::UnixFd
            | Type::Str
            | Type::ObjectPath
            | Type::Array(_) => 4,
            Type::I64 | Type::U64 | Type::Double | Type::Struct(_) | Type::DictEntry(..) => 8,
        }
    }

    fn is_basic(&self) -> bool {
        !matches!(
            self,
            Type::Variant | Type::Array(_) | Type::Struct(_) | Type::DictEntry(..)
        )
    }

    /// Appends the type's signature code.
    pub fn write_signature(&self, out: &mut String) {
        let code = match self {
            Type::Byte => 'y',
            Type::Bool => 'b',
            Type::I16 => 'n',
            Type::U16 => 'q',
            Type::I32 => 'i',
            Type::U32 => 'u',
            Type::I64 => 'x',
            Type::U64 => 't',
            Type::Double => 'd',
            Type::Str => 's',
            Type::ObjectPath => 'o',
            Type::Signature => 'g',
            Type::UnixFd => 'h',
            Type::Variant => 'v',
            Type::Array(element) => {
                out.push('a');
                element.write_signature(out);
                return;
            }
            Type::Struct(fields) => {
                out.push('(');
                fields.iter().for_each(|f| f.write_signature(out));
                out.push(')');
                return;
            }
            Type::DictEntry(key, value) => {
                out.push('{');
                key.write_signature(out);
                value.write_signature(out);
                out.push('}');
                return;
            }
        };
        out.push(code);
    }
}

/// Parses a signature (zero or more complete types).
pub fn parse_signature(signature: &str) -> Result<Vec<Type>, ParseError> {
    if signature.len() > 255 {
        return Err(ParseError::new("signature longer than 255 bytes"));
    }
    let bytes = signature.as_bytes();
    let mut pos = 0;
    let mut types = Vec::new();
    while pos < bytes.len() {
        types.push(parse_type(bytes, &mut pos, 0, 0, false)?);
    }
    Ok(types)
}

fn parse_type(
    sig: &[u8],
    pos: &mut usize,
    arrays: usize,
    structs: usize,
    in_array: bool,
) -> Result<Type, ParseError> {
    let Some(&code) = sig.get(*pos) else {
        return Err(ParseError::new("signature ends inside a type"));
    };
    *pos += 1;
    Ok(match code {
        b'y' => Type::Byte,
        b'b' => Type::Bool,
        b'n' => Type::I16,
        b'q' => Type::U16,
        b'i' => Type::I32,
        b'u' => Type::U32,
        b'x' => Type::I64,
        b't' => Type::U64,
        b'd' => Type::Double,
        b's' => Type::Str,
        b'o' => Type::ObjectPath,
        b'g' => Type::Signature,
        b'h' => Type::UnixFd,
        b'v' => Type::Variant,
        b'a' => {
            if arrays >= MAX_NESTING {
                return Err(ParseError::new("arrays nested too deeply"));
            }
            Type::Array(Box::new(parse_type(sig, pos, arrays + 1, structs, true)?))
        }
        b'(' => {
            if structs >= MAX_NESTING {
                return Err(ParseError::new("structs nested too deeply"));
            }
            let mut fields = Vec::new();
            loop {
                match sig.get(*pos) {
                    Some(b')') => {
                        *pos += 1;
                        break;
                    }
                    Some(_) => fields.push(parse_type(sig, pos, arrays, structs + 1, false)?),
                    None => return Err(ParseError::new("unterminated struct in signature")),
                }
            }
            if fields.is_empty() {
                return Err(ParseError::new("empty struct in signature"));
            }
            Type::Struct(fields)
        }
        b'{' => {
            if !in_array {
                return Err(ParseError::new("dict entry outside an array"));
            }
            if structs >= MAX_NESTING {
                return Err(ParseError::new("structs nested too deeply"));
            }
            let key = parse_type(sig, pos, arrays, structs + 1, false)?;
            if !key.is_basic() {
                return Err(ParseError::new("dict entry key is not a basic type"));
            }
            let value = parse_type(sig, pos, arrays, structs + 1, false)?;
            if sig.get(*pos) != Some(&b'}') {
                return Err(ParseError::new("dict entry must hold exactly two types"));
            }
            *pos += 1;
            Type::DictEntry(Box::new(key), Box::new(value))
        }
        other => {
            return Err(ParseError::new(format!(
                "unknown type code {:?} in signature",
                other as char
            )))
        }
    })
}

/// A D-Bus value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `y`
    Byte(u8),
    /// `b`
    Bool(bool),
    /// `n`
    I16(i16),
    /// `q`
    U16(u16),
    /// `i`
    I32(i32),
    /// `u`
    U32(u32),
    /// `x`
    I64(i64),
    /// `t`
    U64(u64),
    /// `d`
    Double(f64),
    /// `s`
    Str(String),
    /// `o`
    ObjectPath(String),
    /// `g`
    Signature(String),
    /// `h`
    UnixFd(u32),
    /// `a...`: the element type (so that an empty array still has one) and the elements.
    Array(Type, Vec<Value>),
    /// `(...)`
    Struct(Vec<Value>),
    /// `{..}`
    DictEntry(Box<Value>, Box<Value>),
    /// `v`
    Variant(Box<Value>),
}

impl Value {
    /// The value's type.
    pub fn type_of(&self) -> Type {
        match self {
            Value::Byte(_) => Type::Byte,
            Value::Bool(_) => Type::Bool,
            Value::I16(_) => Type::I16,
            Value::U16(_) => Type::U16,
            Value::I32(_) => Type::I32,
            Value::U32(_) => Type::U32,
            Value::I64(_) => Type::I64,
            Value::U64(_) => Type::U64,
            Value::Double(_) => Type::Double,
            Value::Str(_) => Type::Str,
            Value::ObjectPath(_) => Type::ObjectPath,
            Value::Signature(_) => Type::Signature,
            Value::UnixFd(_) => Type::UnixFd,
            Value::Array(element, _) => Type::Array(Box::new(element.clone())),
            Value::Struct(fields) => Type::Struct(fields.iter().map(Value::type_of).collect()),
            Value::DictEntry(k, v) => Type::DictEntry(Box::new(k.type_of()), Box::new(v.type_of())),
            Value::Variant(_) => Type::Variant,
        }
    }

    /// The value with any variant wrappers removed.
    pub fn unwrap_variant(&self) -> &Value {
        let mut value = self;
        while let Value::Variant(inner) = value {
            value = inner;
        }
        value
    }

    /// The text of a string, object path or signature (through variants).
    pub fn as_str(&self) -> Option<&str> {
        match self.unwrap_variant() {
            Value::Str(s) | Value::ObjectPath(s) | Value::Signature(s) => Some(s),
            _ => None,
        }
    }

    /// A `u` (through variants).
    pub fn as_u32(&self) -> Option<u32> {
        match self.unwrap_variant() {
            Value::U32(v) => Some(*v),
            _ => None,
        }
    }

    /// A `t` (through variants).
    pub fn as_u64(&self) -> Option<u64> {
        match self.unwrap_variant() {
            Value::U64(v) => Some(*v),
            _ => None,
        }
    }

    /// A `b` (through variants).
    pub fn as_bool(&self) -> Option<bool> {
        match self.unwrap_variant() {
            Value::Bool(v) => Some(*v),
            _ => None,
        }
    }

    /// The elements of an array (through variants).
    pub fn as_array(&self) -> Option<&[Value]> {
        match self.unwrap_variant() {
            Value::Array(_, items) => Some(items),
            _ => None,
        }
    }

    /// The fields of a struct (through variants).
    pub fn as_struct(&self) -> Option<&[Value]> {
        match self.unwrap_variant() {
            Value::Struct(fields) => Some(fields),
            _ => None,
        }
    }
}

/// The signature of a sequence of values (a message body).
pub fn signature_of(values: &[Value]) -> String {
    let mut sig = String::new();
    values
        .iter()
        .for_each(|v| v.type_of().write_signature(&mut sig));
    sig
}

/// Appends values little-endian, aligned relative to the start of `buf` (the start of the
/// message, or a body, which begins 8-aligned).
pub fn encode_value(buf: &mut Vec<u8>, value: &Value) {
    pad_to(buf, value.type_of().alignment());
    match value {
        Value::Byte(v) => buf.push(*v),
        Value::Bool(v) => buf.extend_from_slice(&u32::from(*v).to_le_bytes()),
        Value::I16(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::U16(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::I32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::U32(v) | Value::UnixFd(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::I64(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::U64(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::Double(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::Str(s) | Value::ObjectPath(s) => {
            buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
            buf.extend_from_slice(s.as_bytes());
            buf.push(0);
        }
        Value::Signature(s) => encode_signature(buf, s),
        Value::Array(element, items) => {
            let len_at = buf.len();
            buf.extend_from_slice(&[0; 4]);
            pad_to(buf, element.alignment());
            let start = buf.len();
            items.iter().for_each(|item| encode_value(buf, item));
            let len = (buf.len() - start) as u32;
            buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
        }
        Value::Struct(fields) => fields.iter().for_each(|f| encode_value(buf, f)),
        Value::DictEntry(k, v) => {
            encode_value(buf, k);
            encode_value(buf, v);
        }
        Value::Variant(inner) => {
            let mut sig = String::new();
            inner.type_of().write_signature(&mut sig);
            encode_signature(buf, &sig);
            encode_value(buf, inner);
        }
    }
}

fn encode_signature(buf: &mut Vec<u8>, sig: &str) {
    buf.push(sig.len() as u8);
    buf.extend_from_slice(sig.as_bytes());
    buf.push(0);
}

fn pad_to(buf: &mut Vec<u8>, align: usize) {
    while !buf.len().is_multiple_of(align) {
        buf.push(0);
    }
}

/// Reads values of known types out of a byte buffer, checking every bound.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    big_endian: bool,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| ParseError::new("message truncated"))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn align(&mut self, align: usize) -> Result<(), ParseError> {
        let pad = (align - self.pos % align) % align;
        if self.take(pad)?.iter().any(|&b| b != 0) {
            return Err(ParseError::new("non-zero alignment padding"));
        }
        Ok(())
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], ParseError> {
        self.align(N)?;
        let mut bytes = [0; N];
        bytes.copy_from_slice(self.take(N)?);
        if self.big_endian {
            bytes.reverse();
        }
        Ok(bytes)
    }

    fn u32(&mut self) -> Result<u32, ParseError> {
        self.fixed::<4>().map(u32::from_le_bytes)
    }

    fn text(&mut self, len: usize) -> Result<String, ParseError> {
        let bytes = self.take(len)?;
        if self.take(1)? != [0] {
            return Err(ParseError::new("string not nul-terminated"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| ParseError::new("string not UTF-8"))?;
        if text.contains('\0') {
            return Err(ParseError::new("string contains a nul byte"));
        }
        Ok(text.to_string())
    }

    fn signature(&mut self) -> Result<String, ParseError> {
        let len = usize::from(self.take(1)?[0]);
        self.text(len)
    }

    fn value(&mut self, ty: &Type, depth: usize) -> Result<Value, ParseError> {
        if depth > MAX_DEPTH {
            return Err(ParseError::new("values nested too deeply"));
        }
        Ok(match ty {
            Type::Byte => Value::Byte(self.take(1)?[0]),
            Type::Bool => match self.u32()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                other => return Err(ParseError::new(format!("boolean value {other}"))),
            },
            Type::I16 => Value::I16(i16::from_le_bytes(self.fixed()?)),
            Type::U16 => Value::U16(u16::from_le_bytes(self.fixed()?)),
            Type::I32 => Value::I32(i32::from_le_bytes(self.fixed()?)),
            Type::U32 => Value::U32(self.u32()?),
            Type::UnixFd => Value::UnixFd(self.u32()?),
            Type::I64 => Value::I64(i64::from_le_bytes(self.fixed()?)),
            Type::U64 => Value::U64(u64::from_le_bytes(self.fixed()?)),
            Type::Double => Value::Double(f64::from_le_bytes(self.fixed()?)),
            Type::Str => {
                let len = self.u32()? as usize;
                Value::Str(self.text(len)?)
            }
            Type::ObjectPath => {
                let len = self.u32()? as usize;
                let path = self.text(len)?;
                if !valid_object_path(&path) {
                    return Err(ParseError::new(format!("invalid object path {path:?}")));
                }
                Value::ObjectPath(path)
            }
            Type::Signature => {
                let sig = self.signature()?;
                parse_signature(&sig)?;
                Value::Signature(sig)
            }
            Type::Array(element) => {
                let len = self.u32()? as usize;
                if len > MAX_ARRAY {
                    return Err(ParseError::new(format!("array of {len} bytes is too long")));
                }
                self.align(element.alignment())?;
                let end = self
                    .pos
                    .checked_add(len)
                    .filter(|&end| end <= self.buf.len())
                    .ok_or_else(|| ParseError::new("message truncated inside an array"))?;
                let mut items = Vec::new();
                while self.pos < end {
                    items.push(self.value(element, depth + 1)?);
                }
                if self.pos != end {
                    return Err(ParseError::new("array elements overrun its length"));
                }
                Value::Array((**element).clone(), items)
            }
            Type::Struct(fields) => {
                self.align(8)?;
                let mut values = Vec::with_capacity(fields.len());
                for field in fields {
                    values.push(self.value(field, depth + 1)?);
                }
                Value::Struct(values)
            }
            Type::DictEntry(key, value) => {
                self.align(8)?;
                let k = self.value(key, depth + 1)?;
                let v = self.value(value, depth + 1)?;
                Value::DictEntry(Box::new(k), Box::new(v))
            }
            Type::Variant => {
                let sig = self.signature()?;
                let mut types = parse_signature(&sig)?;
                if types.len() != 1 {
                    return Err(ParseError::new(format!(
                        "variant signature {sig:?} is not one complete type"
                    )));
                }
                let inner = types.remove(0);
                Value::Variant(Box::new(self.value(&inner, depth + 1)?))
            }
        })
    }
}

/// Whether `path` is a valid object path: `/`, or `/`-separated non-empty `[A-Za-z0-9_]` parts.
pub fn valid_object_path(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    match path.strip_prefix('/') {
        Some(rest) => rest.split('/').all(|part| {
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }),
        None => false,
    }
}

/// Decodes a sequence of values with the given signature from `bytes`, which must hold exactly
/// them, little-endian (the counterpart of [`encode_value`], for tests and bodies).
pub fn decode_values(signature: &str, bytes: &[u8]) -> Result<Vec<Value>, ParseError> {
    let mut reader = Reader {
        buf: bytes,
        pos: 0,
        big_endian: false,
    };
    let values = read_all(&mut reader, signature)?;
    if reader.pos != bytes.len() {
        return Err(ParseError::new("trailing bytes after the values"));
    }
    Ok(values)
}

fn read_all(reader: &mut Reader<'_>, signature: &str) -> Result<Vec<Value>, ParseError> {
    parse_signature(signature)?
        .iter()
        .map(|ty| reader.value(ty, 0))
        .collect()
}

/// The kind of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// A method call (1).
    MethodCall,
    /// A successful reply (2).
    MethodReturn,
    /// An error reply (3).
    Error,
    /// A signal (4).
    Signal,
}

impl MessageKind {
    fn code(self) -> u8 {
        match self {
            MessageKind::MethodCall => 1,
            MessageKind::MethodReturn => 2,
            MessageKind::Error => 3,
            MessageKind::Signal => 4,
        }
    }
}

/// A decoded message: the header fields a client uses, and the body.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// Its kind.
    pub kind: MessageKind,
    /// The sender's serial number.
    pub serial: u32,
    /// For replies: the serial of the call answered.
    pub reply_serial: Option<u32>,
    /// For errors: the error name.
    pub error_name: Option<String>,
    /// Object path (calls and signals).
    pub path: Option<String>,
    /// Interface.
    pub interface: Option<String>,
    /// Member (method or signal name).
    pub member: Option<String>,
    /// Destination bus name.
    pub destination: Option<String>,
    /// The body's values.
    pub body: Vec<Value>,
}

impl Message {
    /// A method call with the given body.
    pub fn method_call(
        destination: Option<&str>,
        path: &str,
        interface: &str,
        member: &str,
        body: Vec<Value>,
    ) -> Self {
        Message {
            kind: MessageKind::MethodCall,
            serial: 0,
            reply_serial: None,
            error_name: None,
            path: Some(path.to_string()),
            interface: Some(interface.to_string()),
            member: Some(member.to_string()),
            destination: destination.map(str::to_string),
            body,
        }
    }
}

const FIELD_PATH: u8 = 1;
const FIELD_INTERFACE: u8 = 2;
const FIELD_MEMBER: u8 = 3;
const FIELD_ERROR_NAME: u8 = 4;
const FIELD_REPLY_SERIAL: u8 = 5;
const FIELD_DESTINATION: u8 = 6;
const FIELD_SIGNATURE: u8 = 8;

/// Encodes a message little-endian with the given serial (which must not be 0).
pub fn encode_message(message: &Message, serial: u32) -> Vec<u8> {
    let mut fields = Vec::new();
    let mut field = |code: u8, value: Value| {
        fields.push(Value::Struct(vec![
            Value::Byte(code),
            Value::Variant(Box::new(value)),
        ]));
    };
    if let Some(path) = &message.path {
        field(FIELD_PATH, Value::ObjectPath(path.clone()));
    }
    if let Some(interface) = &message.interface {
        field(FIELD_INTERFACE, Value::Str(interface.clone()));
    }
    if let Some(member) = &message.member {
        field(FIELD_MEMBER, Value::Str(member.clone()));
    }
    if let Some(name) = &message.error_name {
        field(FIELD_ERROR_NAME, Value::Str(name.clone()));
    }
    if let Some(reply) = message.reply_serial {
        field(FIELD_REPLY_SERIAL, Value::U32(reply));
    }
    if let Some(destination) = &message.destination {
        field(FIELD_DESTINATION, Value::Str(destination.clone()));
    }
    if !message.body.is_empty() {
        field(
            FIELD_SIGNATURE,
            Value::Signature(signature_of(&message.body)),
        );
    }
    let mut body = Vec::new();
    message.body.iter().for_each(|v| encode_value(&mut body, v));

    let mut buf = vec![b'l', message.kind.code(), 0, 1];
    buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
    buf.extend_from_slice(&serial.to_le_bytes());
    let header_field_type = Type::Struct(vec![Type::Byte, Type::Variant]);
    encode_value(&mut buf, &Value::Array(header_field_type, fields));
    pad_to(&mut buf, 8);
    buf.extend_from_slice(&body);
    buf
}

/// The total length of a message from its first 16 bytes (fixed header and header-field array
/// length), so a reader knows how much more to read.
pub fn message_length(start: &[u8; 16]) -> Result<usize, ParseError> {
    let big_endian = match start[0] {
        b'l' => false,
        b'B' => true,
        other => return Err(ParseError::new(format!("bad endianness byte {other:#x}"))),
    };
    if start[3] != 1 {
        return Err(ParseError::new(format!(
            "unsupported protocol version {}",
            start[3]
        )));
    }
    let word = |at: usize| {
        let mut b = [start[at], start[at + 1], start[at + 2], start[at + 3]];
        if big_endian {
            b.reverse();
        }
        u32::from_le_bytes(b) as usize
    };
    let (body, fields) = (word(4), word(12));
    if fields > MAX_ARRAY {
        return Err(ParseError::new("header fields too long"));
    }
    let header = 16 + fields;
    let total = header + (8 - header % 8) % 8 + body;
    if total > MAX_MESSAGE {
        return Err(ParseError::new(format!(
            "message of {total} bytes is too long"
        )));
    }
    Ok(total)
}

/// Decodes one whole message (exactly `message_length` bytes).
pub fn decode_message(bytes: &[u8]) -> Result<Message, ParseError> {
    let start: &[u8; 16] = bytes
        .get(..16)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| ParseError::new("message shorter than its fixed header"))?;
    let total = message_length(start)?;
    if bytes.len() != total {
        return Err(ParseError::new(format!(
            "message is {} bytes, its header says {total}",
            bytes.len()
        )));
    }
    let kind = match bytes[1] {
        1 => MessageKind::MethodCall,
        2 => MessageKind::MethodReturn,
        3 => MessageKind::Error,
        4 => MessageKind::Signal,
        other => return Err(ParseError::new(format!("unknown message type {other}"))),
    };
    let mut reader = Reader {
        buf: bytes,
        pos: 8,
        big_endian: bytes[0] == b'B',
    };
    let serial = reader.u32()?;
    if serial == 0 {
        return Err(ParseError::new("message serial is 0"));
    }
    let field_type = Type::Array(Box::new(Type::Struct(vec![Type::Byte, Type::Variant])));
    let fields = reader.value(&field_type, 0)?;
    reader.align(8)?;
    let body_start = reader.pos;

    let mut message = Message {
        kind,
        serial,
        reply_serial: None,
        error_name: None,
        path: None,
        interface: None,
        member: None,
        destination: None,
        body: Vec::new(),
    };
    let mut signature = String::new();
    for field in fields.as_array().unwrap_or_default() {
        let (code, value) = match field.as_struct() {
            Some([Value::Byte(code), value]) => (*code, value.unwrap_variant()),
            _ => return Err(ParseError::new("malformed header field")),
        };
        let text = || {
            value
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| ParseError::new(format!("header field {code} has the wrong type")))
        };
        match code {
            FIELD_PATH => message.path = Some(text()?),
            FIELD_INTERFACE => message.interface = Some(text()?),
            FIELD_MEMBER => message.member = Some(text()?),
            FIELD_ERROR_NAME => message.error_name = Some(text()?),
            FIELD_REPLY_SERIAL => {
                message.reply_serial = Some(
                    value
                        .as_u32()
                        .ok_or_else(|| ParseError::new("reply serial header field is not a u32"))?,
                )
            }
            FIELD_DESTINATION => message.destination = Some(text()?),
            FIELD_SIGNATURE => signature = text()?,
            _ => {} // sender, unix fds and future fields
        }
    }
    // The body is aligned from its own start, which is 8-aligned in the message.
    let mut body = Reader {
        buf: &bytes[body_start..],
        pos: 0,
        big_endian: reader.big_endian,
    };
    message.body = read_all(&mut body, &signature)?;
    if body.pos != body.buf.len() {
        return Err(ParseError::new("body longer than its signature"));
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(values: Vec<Value>) {
        let sig = signature_of(&values);
        let mut buf = Vec::new();
        values.iter().for_each(|v| encode_value(&mut buf, v));
        assert_eq!(
            decode_values(&sig, &buf).unwrap(),
            values,
            "signature {sig}"
        );
    }

    fn unit_entry(name: &str) -> Value {
        Value::Struct(vec![
            Value::Str(name.into()),
            Value::Str("desc".into()),
            Value::Str("loaded".into()),
            Value::Str("active".into()),
            Value::Str("running".into()),
            Value::Str(String::new()),
            Value::ObjectPath("/org/freedesktop/systemd1/unit/a_2eservice".into()),
            Value::U32(0),
            Value::Str(String::new()),
            Value::ObjectPath("/".into()),
        ])
    }

    #[test]
    fn signatures_parse_and_print_back() {
        for sig in [
            "",
            "s",
            "a(ssssssouso)",
            "a{sv}",
            "(ya{s(ii)})v",
            "aay",
            "a(susso)",
        ] {
            let types = parse_signature(sig).unwrap();
            let mut back = String::new();
            types.iter().for_each(|t| t.write_signature(&mut back));
            assert_eq!(back, sig);
        }
        assert_eq!(parse_signature("a(ssssssouso)").unwrap().len(), 1);
        assert_eq!(parse_signature("ss").unwrap().len(), 2);
    }

    #[test]
    fn bad_signatures_are_errors() {
        for sig in [
            "a", "(", "(s", "()", "{ss}", "a{vs}", "a{s}", "a{sss}", "z", "a(s))",
        ] {
            assert!(parse_signature(sig).is_err(), "{sig:?} accepted");
        }
        assert!(parse_signature(&"a".repeat(33).add_s()).is_err());
        assert!(parse_signature(&"a".repeat(32).add_s()).is_ok());
        let deep = format!("{}s{}", "(".repeat(33), ")".repeat(33));
        assert!(parse_signature(&deep).is_err());
        assert!(parse_signature(&"s".repeat(256)).is_err());
    }

    trait AddS {
        fn add_s(self) -> String;
    }
    impl AddS for String {
        fn add_s(self) -> String {
            self + "s"
        }
    }

    #[test]
    fn values_round_trip() {
        round_trip(vec![
            Value::Byte(7),
            Value::Bool(true),
            Value::I16(-2),
            Value::U16(3),
            Value::I32(-4),
            Value::U32(5),
            Value::I64(-6),
            Value::U64(u64::MAX),
            Value::Double(1.5),
            Value::Str("héllo".into()),
            Value::ObjectPath("/a/b_c".into()),
            Value::Signature("a{sv}".into()),
            Value::UnixFd(1),
        ]);
        round_trip(vec![Value::Array(
            unit_entry("x").type_of(),
            vec![unit_entry("a.service"), unit_entry("b.timer")],
        )]);
        round_trip(vec![
            Value::Byte(1),
            Value::Array(Type::U64, vec![]),
            Value::Array(Type::U64, vec![Value::U64(9)]),
        ]);
        round_trip(vec![Value::Array(
            Type::DictEntry(Box::new(Type::Str), Box::new(Type::Variant)),
            vec![Value::DictEntry(
                Box::new(Value::Str("k".into())),
                Box::new(Value::Variant(Box::new(Value::U64(3)))),
            )],
        )]);
        round_trip(vec![Value::Variant(Box::new(Value::Variant(Box::new(
            Value::Bool(false),
        ))))]);
    }

    #[test]
    fn array_element_type_matches_its_entries() {
        // The struct entries of ListUnits: the declared element type must be their type.
        let entry = unit_entry("a.service");
        let values = vec![Value::Array(entry.type_of(), vec![entry])];
        assert_eq!(signature_of(&values), "a(ssssssouso)");
        round_trip(values);
    }

    #[test]
    fn known_bytes() {
        let mut buf = Vec::new();
        encode_value(&mut buf, &Value::Byte(1));
        encode_value(&mut buf, &Value::Str("ab".into()));
        encode_value(&mut buf, &Value::U64(2));
        assert_eq!(
            buf,
            [1, 0, 0, 0, 2, 0, 0, 0, b'a', b'b', 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn truncated_and_garbage_values_are_errors() {
        let mut buf = Vec::new();
        encode_value(&mut buf, &Value::Str("hello".into()));
        for cut in 0..buf.len() {
            assert!(decode_values("s", &buf[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_values("s", &[5, 0, 0, 0, b'h', b'e', b'l', b'l', b'o', 1]).is_err());
        assert!(decode_values("s", &[1, 0, 0, 0, 0xff, 0]).is_err());
        assert!(decode_values("s", &[1, 0, 0, 0, 0, 0]).is_err());
        assert!(decode_values("b", &[2, 0, 0, 0]).is_err());
        assert!(decode_values("o", &[3, 0, 0, 0, b'a', b'/', b'b', 0]).is_err());
        assert!(decode_values("o", &[2, 0, 0, 0, b'/', b'/', 0]).is_err());
        assert!(decode_values("g", &[1, b'z', 0]).is_err());
        // A huge array length is refused before anything is allocated.
        assert!(decode_values("ay", &[0xff, 0xff, 0xff, 0x7f]).is_err());
        assert!(decode_values("ay", &[8, 0, 0, 0, 1]).is_err());
        // An array whose elements run past its length.
        assert!(decode_values("au", &[2, 0, 0, 0, 1, 0, 0, 0]).is_err());
        // A variant that holds two types, or none.
        assert!(decode_values("v", &[2, b'y', b'y', 0, 1, 2]).is_err());
        assert!(decode_values("v", &[0, 0]).is_err());
        // Non-zero padding.
        assert!(decode_values("yu", &[1, 9, 0, 0, 1, 0, 0, 0]).is_err());
        assert!(decode_values("u", &[1, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn deeply_nested_variants_are_refused() {
        let mut buf = Vec::new();
        for _ in 0..100 {
            buf.extend_from_slice(&[1, b'v', 0]);
        }
        buf.extend_from_slice(&[1, b'y', 0, 1]);
        assert!(decode_values("v", &buf).is_err());
    }

    fn reply(serial: u32, body: Vec<Value>) -> Message {
        Message {
            kind: MessageKind::MethodReturn,
            serial,
            reply_serial: Some(3),
            error_name: None,
            path: None,
            interface: None,
            member: None,
            destination: Some(":1.5".into()),
            body,
        }
    }

    #[test]
    fn messages_round_trip() {
        let call = Message::method_call(
            Some("org.freedesktop.systemd1"),
            "/org/freedesktop/systemd1",
            "org.freedesktop.DBus.Properties",
            "Get",
            vec![
                Value::Str("org.freedesktop.systemd1.Manager".into()),
                Value::Str("Version".into()),
            ],
        );
        let bytes = encode_message(&call, 7);
        let start: &[u8; 16] = bytes[..16].try_into().unwrap();
        assert_eq!(message_length(start).unwrap(), bytes.len());
        let back = decode_message(&bytes).unwrap();
        assert_eq!(back, Message { serial: 7, ..call });

        let ret = reply(9, vec![Value::Variant(Box::new(Value::Str("252".into())))]);
        assert_eq!(decode_message(&encode_message(&ret, 9)).unwrap(), ret);
        let empty = reply(10, vec![]);
        assert_eq!(decode_message(&encode_message(&empty, 10)).unwrap(), empty);
    }

    #[test]
    fn big_endian_messages_are_read() {
        // A method return with reply serial 3 and body "u" = 0x01020304, as a big-endian peer
        // writes it.
        let mut bytes = vec![b'B', 2, 0, 1, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 15];
        bytes.extend_from_slice(&[5, 1, b'u', 0, 0, 0, 0, 3]); // reply serial
        bytes.extend_from_slice(&[8, 1, b'g', 0, 1, b'u', 0]); // signature "u"
        bytes.push(0); // header of 31 bytes padded to 32
        bytes.extend_from_slice(&[1, 2, 3, 4]);
        let message = decode_message(&bytes).unwrap();
        assert_eq!(message.kind, MessageKind::MethodReturn);
        assert_eq!(message.serial, 2);
        assert_eq!(message.reply_serial, Some(3));
        assert_eq!(message.body, vec![Value::U32(0x0102_0304)]);
    }

    #[test]
    fn truncated_and_garbage_messages_are_errors() {
        let ret = reply(9, vec![Value::Str("x".into()), Value::U64(1)]);
        let bytes = encode_message(&ret, 9);
        for cut in 0..bytes.len() {
            assert!(decode_message(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_message(&longer).is_err());

        let mut bad = bytes.clone();
        bad[0] = b'x';
        assert!(decode_message(&bad).is_err());
        let mut bad = bytes.clone();
        bad[3] = 2; // protocol version
        assert!(decode_message(&bad).is_err());
        let mut bad = bytes.clone();
        bad[1] = 9; // message type
        assert!(decode_message(&bad).is_err());
        let mut bad = bytes.clone();
        bad[8..12].copy_from_slice(&[0; 4]); // serial 0
        assert!(decode_message(&bad).is_err());
        // A body length beyond the limit is refused from the first 16 bytes.
        let mut bad: [u8; 16] = bytes[..16].try_into().unwrap();
        bad[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(message_length(&bad).is_err());
        // A body that does not match its signature: "x" as a string, declared as "u".
        let mut wrong = ret.clone();
        wrong.body = vec![Value::Str("x".into())];
        let mut short = encode_message(&wrong, 9);
        let sig_at = short
            .windows(3)
            .rposition(|w| w == [1, b's', 0])
            .expect("signature field");
        short[sig_at..sig_at + 3].copy_from_slice(&[1, b'u', 0]);
        assert!(decode_message(&short).is_err());
        // Every byte flipped in turn: errors or some message, never a panic.
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0xff;
            let _ = decode_message(&flipped);
        }
    }

    #[test]
    fn object_paths() {
        assert!(valid_object_path("/"));
        assert!(valid_object_path(
            "/org/freedesktop/systemd1/unit/ssh_2eservice"
        ));
        assert!(!valid_object_path(""));
        assert!(!valid_object_path("/a/"));
        assert!(!valid_object_path("/a-b"));
        assert!(!valid_object_path("a"));
    }
}
