//! `cmsgpack`: lua-cmsgpack 0.4.0 as Redis ships it.
//!
//! - `cmsgpack.pack(v1, ...)` encodes each argument and returns the concatenation. Tables whose
//!   keys are exactly 1..n become arrays (the empty table too), others maps in `next` order.
//!   Numbers that are 64-bit integers become the smallest integer encoding, others a float 32 if
//!   the value survives the round trip, else a float 64. Tables nested 16 deep, functions,
//!   userdata and threads encode as nil (so cycles end).
//! - `cmsgpack.unpack(s)` returns every value `s` holds; `unpack_one(s [, offset])` and
//!   `unpack_limit(s, limit [, offset])` return the offset after what they read (-1 at the end of
//!   `s`) then the values. Integers come back as Lua numbers (unsigned 64-bit values above 2^63
//!   wrap to negative, as in the C code); bin, ext and other newer types are a "Bad data format".

use mlua::{Lua, Table, Value};

use super::{
    arg_error, check_stack, error, function, module_table, Args, Fail, LibResult, Ret, Spill,
    MAX_C_STACK,
};

/// Tables nested this deep encode as nil.
const MAX_NESTING: usize = 16;

// ---------------------------------------------------------------------------------------------
// Encoding

fn encode_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        buf.push(0xa0 | len as u8);
    } else if len <= 0xff {
        buf.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        buf.push(0xda);
        buf.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buf.push(0xdb);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
    }
    buf.extend_from_slice(s);
}

fn encode_int(buf: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            buf.push(n as u8);
        } else if n <= 0xff {
            buf.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            buf.push(0xcd);
            buf.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            buf.push(0xce);
            buf.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            buf.push(0xcf);
            buf.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        buf.push(n as i8 as u8);
    } else if n >= -128 {
        buf.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        buf.push(0xd1);
        buf.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2147483648 {
        buf.push(0xd2);
        buf.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        buf.push(0xd3);
        buf.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_number(buf: &mut Vec<u8>, n: f64) {
    // An integer if converting to int64 and back gives the number (the C check, with the
    // conversion's out-of-range results, which never compare equal).
    if n.is_finite()
        && (-9223372036854775808.0..9223372036854775808.0).contains(&n)
        && n.trunc() == n
    {
        encode_int(buf, n as i64);
    } else if n == (n as f32) as f64 {
        buf.push(0xca);
        buf.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        buf.push(0xcb);
        buf.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_header(buf: &mut Vec<u8>, n: usize, fix: u8, b16: u8, b32: u8) {
    if n <= 15 {
        buf.push(fix | n as u8);
    } else if n <= 0xffff {
        buf.push(b16);
        buf.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        buf.push(b32);
        buf.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// `table_is_an_array`: keys exactly 1..n (all positive and int-valued, the largest equal to
/// their count). The empty table qualifies.
fn is_array(table: &Table) -> mlua::Result<bool> {
    let (mut count, mut max) = (0i32, 0i32);
    let mut array = true;
    table
        .for_each(|k: Value, _: Value| {
            let n = match k {
                Value::Integer(i) => i as f64,
                Value::Number(n) => n,
                _ => f64::NAN,
            };
            let index = n > 0.0 && n.is_finite() && super::c_double_to_i32(n) as f64 == n;
            if !index {
                array = false;
                // Stop the walk: the error is only a signal.
                return Err(mlua::Error::RuntimeError(String::new()));
            }
            max = max.max(n as i32);
            count += 1;
            Ok(())
        })
        .or_else(|e| if array { Err(e) } else { Ok(()) })?;
    Ok(array && max == count)
}

/// The encoder. Its methods take `level`, the nesting depth, and `top`, the Lua stack slots the
/// C code would be using with the value being encoded on top.
struct Encoder<'a> {
    lua: &'a Lua,
    buf: Vec<u8>,
}

impl Encoder<'_> {
    fn value(&mut self, v: &Value, level: usize, top: i64) -> Result<(), Fail> {
        match v {
            Value::String(s) => encode_bytes(&mut self.buf, &s.as_bytes()),
            Value::Boolean(b) => self.buf.push(if *b { 0xc3 } else { 0xc2 }),
            Value::Integer(_) | Value::Number(_) => {
                encode_number(&mut self.buf, super::as_number(v).unwrap())
            }
            Value::Table(t) if level < MAX_NESTING => self.table(t, level, top)?,
            _ => self.buf.push(0xc0),
        }
        Ok(())
    }

    fn table(&mut self, t: &Table, level: usize, top: i64) -> Result<(), Fail> {
        check_stack(self.lua, top, 2, "in function table_is_an_array")?;
        if is_array(t)? {
            let len = t.raw_len();
            encode_header(&mut self.buf, len, 0x90, 0xdc, 0xdd);
            check_stack(self.lua, top, 1, "in function mp_encode_lua_table_as_array")?;
            for i in 1..=len {
                let v: Value = t.raw_get(i)?;
                self.value(&v, level + 1, top + 1)?;
            }
        } else {
            check_stack(self.lua, top, 3, "in function mp_encode_lua_table_as_map")?;
            let mut len = 0usize;
            t.for_each(|_: Value, _: Value| {
                len += 1;
                Ok(())
            })?;
            encode_header(&mut self.buf, len, 0x80, 0xde, 0xdf);
            let mut failed = None;
            t.for_each(|k: Value, v: Value| {
                let r = self
                    .value(&k, level + 1, top + 3)
                    .and_then(|()| self.value(&v, level + 1, top + 2));
                match r {
                    Ok(()) => Ok(()),
                    Err(Fail::Lua(e)) => Err(e),
                    Err(f) => {
                        failed = Some(f);
                        Err(mlua::Error::RuntimeError(String::new()))
                    }
                }
            })
            .or_else(|e| if failed.is_some() { Ok(()) } else { Err(e) })?;
            if let Some(f) = failed {
                return Err(f);
            }
        }
        Ok(())
    }
}

fn pack(lua: &Lua, args: &Args) -> LibResult {
    let nargs = args.top();
    if nargs == 0 {
        return Err(arg_error(lua, 0, "MessagePack pack needs input."));
    }
    if 2 * nargs as i64 > MAX_C_STACK {
        return Err(arg_error(
            lua,
            0,
            "Too many arguments for MessagePack pack.",
        ));
    }
    let mut enc = Encoder {
        lua,
        buf: Vec::new(),
    };
    for i in 1..=nargs {
        // Each encoded argument waits on the stack until the final concatenation.
        let top = (nargs + i) as i64;
        enc.value(&args.get(i).unwrap(), 0, top)?;
    }
    super::ret1(Value::String(lua.create_string(&enc.buf)?))
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Why decoding stopped early, as the C cursor records it.
enum Stop {
    /// `MP_CUR_ERROR_EOF`: "Missing bytes in input."
    Eof,
    /// `MP_CUR_ERROR_BADFMT`: "Bad data format in input."
    BadFormat,
    /// An error raised on the spot (stack overflow, bad table index, mlua).
    Fail(Fail),
}

impl From<mlua::Error> for Stop {
    fn from(e: mlua::Error) -> Self {
        Stop::Fail(Fail::Lua(e))
    }
}

/// What the next item of the input is.
enum Item {
    Value(Value),
    Array(usize),
    Map(usize),
}

/// A container being filled.
enum Frame {
    Array {
        left: usize,
        index: f64,
    },
    /// `key` is set while its value is being decoded (and waits in the spill while that value
    /// is a container).
    Map {
        left: usize,
        key: Option<Value>,
        key_spilled: bool,
    },
}

struct Decoder<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    pos: usize,
    /// Stack slots the C decoder would be using.
    top: i64,
}

impl<'a> Decoder<'a> {
    fn need(&self, n: usize) -> Result<(), Stop> {
        if self.data.len() - self.pos < n {
            Err(Stop::Eof)
        } else {
            Ok(())
        }
    }

    /// The next `size` bytes, consumed.
    fn take(&mut self, size: usize) -> Result<&'a [u8], Stop> {
        self.need(size)?;
        let data: &'a [u8] = self.data;
        let s = &data[self.pos..self.pos + size];
        self.pos += size;
        Ok(s)
    }

    /// A string of `len` bytes after a header of `header` bytes.
    fn string(&mut self, header: usize, len: usize) -> Result<Item, Stop> {
        let s = self.take(header + len)?;
        Ok(Item::Value(Value::String(
            self.lua.create_string(&s[header..])?,
        )))
    }

    /// Reads the header of the next item (`mp_decode_to_lua_type` up to the recursion).
    fn item(&mut self) -> Result<Item, Stop> {
        self.need(1)?;
        if self.top + 1 > MAX_C_STACK {
            return Err(Stop::Fail(error(
                self.lua,
                "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)",
            )));
        }
        let data: &'a [u8] = self.data;
        let p = self.pos;
        let b = data[p];
        let be = |s: &[u8]| s[1..].iter().fold(0u64, |acc, &b| (acc << 8) | b as u64);
        let num = |v: f64| Ok(Item::Value(Value::Number(v)));
        match b {
            0xcc => num(self.take(2)?[1] as f64),
            0xd0 => num(self.take(2)?[1] as i8 as f64),
            0xcd => num(be(self.take(3)?) as f64),
            0xd1 => num(be(self.take(3)?) as u16 as i16 as f64),
            0xce => num(be(self.take(5)?) as f64),
            0xd2 => num(be(self.take(5)?) as u32 as i32 as f64),
            // Unsigned 64 goes through lua_pushinteger, so values from 2^63 wrap to negative.
            0xcf | 0xd3 => num(be(self.take(9)?) as i64 as f64),
            0xc0 | 0xc2 | 0xc3 => {
                self.pos += 1;
                Ok(Item::Value(match b {
                    0xc0 => Value::Nil,
                    _ => Value::Boolean(b == 0xc3),
                }))
            }
            0xca => num(f32::from_bits(be(self.take(5)?) as u32) as f64),
            0xcb => num(f64::from_bits(be(self.take(9)?))),
            0xd9 => {
                self.need(2)?;
                self.string(2, data[p + 1] as usize)
            }
            0xda => {
                self.need(3)?;
                self.string(3, be(&data[p..p + 3]) as usize)
            }
            0xdb => {
                self.need(5)?;
                self.string(5, be(&data[p..p + 5]) as usize)
            }
            0xdc | 0xde => {
                let n = be(self.take(3)?) as usize;
                Ok(if b == 0xdc {
                    Item::Array(n)
                } else {
                    Item::Map(n)
                })
            }
            0xdd | 0xdf => {
                let n = be(self.take(5)?) as usize;
                Ok(if b == 0xdd {
                    Item::Array(n)
                } else {
                    Item::Map(n)
                })
            }
            _ if b & 0x80 == 0 => {
                self.pos += 1;
                num(b as f64)
            }
            _ if b & 0xe0 == 0xe0 => {
                self.pos += 1;
                num(b as i8 as f64)
            }
            _ if b & 0xe0 == 0xa0 => self.string(1, (b & 0x1f) as usize),
            _ if b & 0xf0 == 0x90 => {
                self.pos += 1;
                Ok(Item::Array((b & 0xf) as usize))
            }
            _ if b & 0xf0 == 0x80 => {
                self.pos += 1;
                Ok(Item::Map((b & 0xf) as usize))
            }
            _ => Err(Stop::BadFormat),
        }
    }

    /// `t[k] = v` as `lua_settable` does on a fresh table.
    fn set(&self, t: &Table, k: Value, v: Value) -> Result<(), Stop> {
        match k {
            Value::Nil => Err(Stop::Fail(Fail::Raise(b"table index is nil".to_vec()))),
            Value::Number(n) if n.is_nan() => {
                Err(Stop::Fail(Fail::Raise(b"table index is NaN".to_vec())))
            }
            k => Ok(t.raw_set(k, v)?),
        }
    }

    /// Decodes one complete value. Containers are filled with an explicit stack: the open ones
    /// other than the innermost wait in `spill` (with a map's pending key), so depth costs no
    /// Rust stack and no mlua references.
    fn value(&mut self) -> Result<Value, Stop> {
        let mut frames: Vec<Frame> = Vec::new();
        let mut spill = Spill::new();
        let mut current: Option<Table> = None;
        loop {
            if let Some(Frame::Array { .. }) = frames.last() {
                self.top += 1; // the index, pushed before the element
            }
            let mut v = match self.item()? {
                Item::Value(v) => {
                    self.top += 1;
                    v
                }
                Item::Array(0) => {
                    self.top += 1;
                    check_stack(self.lua, self.top, 1, "in function mp_decode_to_lua_array")
                        .map_err(Stop::Fail)?;
                    Value::Table(self.lua.create_table()?)
                }
                Item::Map(0) => {
                    self.top += 1;
                    Value::Table(self.lua.create_table()?)
                }
                item => {
                    self.top += 1;
                    let frame = match item {
                        Item::Array(left) => {
                            check_stack(
                                self.lua,
                                self.top,
                                1,
                                "in function mp_decode_to_lua_array",
                            )
                            .map_err(Stop::Fail)?;
                            Frame::Array { left, index: 1.0 }
                        }
                        Item::Map(left) => Frame::Map {
                            left,
                            key: None,
                            key_spilled: false,
                        },
                        Item::Value(_) => unreachable!(),
                    };
                    let table = self.lua.create_table()?;
                    if let Some(parent) = current.replace(table) {
                        spill.push(self.lua, Value::Table(parent))?;
                        if let Some(Frame::Map {
                            key: key @ Some(_),
                            key_spilled,
                            ..
                        }) = frames.last_mut()
                        {
                            spill.push(self.lua, key.take().unwrap())?;
                            *key_spilled = true;
                        }
                    }
                    frames.push(frame);
                    continue;
                }
            };
            // Hand the value to the innermost open container, closing those it completes.
            loop {
                let Some(frame) = frames.last_mut() else {
                    return Ok(v);
                };
                let table = current.as_ref().unwrap();
                match frame {
                    Frame::Array { left, index } => {
                        let k = Value::Number(*index);
                        *index += 1.0;
                        *left -= 1;
                        self.set(table, k, v)?;
                        self.top -= 2;
                        if *left > 0 {
                            break;
                        }
                    }
                    Frame::Map { left, key, .. } => match key.take() {
                        None => {
                            *key = Some(v);
                            break;
                        }
                        Some(k) => {
                            *left -= 1;
                            self.set(table, k, v)?;
                            self.top -= 2;
                            if *left > 0 {
                                break;
                            }
                        }
                    },
                }
                // The container is complete: it becomes the value for its parent.
                frames.pop();
                v = Value::Table(current.take().unwrap());
                if !frames.is_empty() {
                    if let Some(Frame::Map {
                        key,
                        key_spilled: spilled @ true,
                        ..
                    }) = frames.last_mut()
                    {
                        *key = Some(spill.pop()?);
                        *spilled = false;
                    }
                    current = Some(spill.pop_table()?);
                }
            }
        }
    }
}

/// `mp_unpack_full`: decodes up to `limit` values from `offset`; `limit` and `offset` both 0
/// means everything, returned without an offset. `top` is the number of arguments left on the
/// stack.
fn unpack_full(lua: &Lua, args: &Args, limit: i64, offset: i64, top: i64) -> LibResult {
    let s = args.check_string(lua, 1)?;
    let data = s.as_bytes();
    let len = data.len();
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return Err(error(
            lua,
            format!(
                "Invalid request to unpack with offset of {} and limit of {}.",
                offset as i32, len as i32
            ),
        ));
    } else if offset as u64 > len as u64 {
        return Err(error(
            lua,
            format!(
                "Start offset {} greater than input length {}.",
                offset as i32, len as i32
            ),
        ));
    }
    let limit = if decode_all { i32::MAX as i64 } else { limit };
    let results = lua.create_table()?;
    let mut n = 0usize;
    if !decode_all {
        n = 1; // the offset goes first
    }
    let mut dec = Decoder {
        lua,
        data: &data,
        pos: offset as usize,
        top,
    };
    let mut count = 0;
    while dec.pos < len && count < limit {
        match dec.value() {
            Ok(v) => {
                n += 1;
                results.raw_set(n, v)?;
            }
            Err(Stop::Eof) => return Err(error(lua, "Missing bytes in input.")),
            Err(Stop::BadFormat) => return Err(error(lua, "Bad data format in input.")),
            Err(Stop::Fail(f)) => return Err(f),
        }
        count += 1;
    }
    if !decode_all {
        check_stack(lua, dec.top, 1, "in function mp_unpack_full")?;
        let next = if dec.pos == len { -1.0 } else { dec.pos as f64 };
        results.raw_set(1, next)?;
    }
    Ok(Ret::Spread(results, n))
}

fn unpack(lua: &Lua, args: &Args) -> LibResult {
    unpack_full(lua, args, 0, 0, args.top() as i64)
}

fn unpack_one(lua: &Lua, args: &Args) -> LibResult {
    let offset = args.opt_integer(lua, 2, 0)?;
    unpack_full(lua, args, 1, offset, args.top().min(1) as i64)
}

fn unpack_limit(lua: &Lua, args: &Args) -> LibResult {
    let limit = args.check_integer(lua, 2)?;
    let offset = args.opt_integer(lua, 3, 0)?;
    unpack_full(lua, args, limit, offset, args.top().min(1) as i64)
}

pub(super) fn open(lua: &Lua) -> mlua::Result<Table> {
    let f = |f: fn(&Lua, &Args) -> LibResult| function(lua, move |lua, args| f(lua, &args));
    let table = module_table(
        lua,
        vec![
            ("pack", f(pack)?),
            ("unpack", f(unpack)?),
            ("unpack_one", f(unpack_one)?),
            ("unpack_limit", f(unpack_limit)?),
        ],
    )?;
    table.raw_set("_NAME", "cmsgpack")?;
    table.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    table.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    table.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(table)
}

#[cfg(test)]
#[path = "cmsgpack_tests.rs"]
mod tests;
