//! `bit`: LuaBitOp 1.0.2 as Redis ships it. Operations on 32-bit integers; results are signed
//! (`bit.tobit(0xffffffff) == -1`).
//!
//! Arguments are normalised as LuaBitOp does with doubles: adding 2^52 + 2^51 and keeping the
//! low 32 bits of the sum, which takes any number modulo 2^32 after rounding it to the nearest
//! integer (ties to even: `bit.tobit(2.5) == 2`). Strings Lua reads as numbers are accepted;
//! anything else is "number expected".

use mlua::{Lua, Value};

use super::{function, module_table, ret1, Args, Fail, LibResult};

/// LuaBitOp's `barg`: argument `n` as 32 bits.
fn barg(lua: &Lua, args: &Args, n: usize) -> Result<u32, Fail> {
    match args
        .get(n)
        .map(|v| super::to_number(lua, &v))
        .transpose()?
        .flatten()
    {
        Some(x) => Ok((x + 6755399441055744.0).to_bits() as u32),
        None => Err(args.type_error(lua, n, "number")),
    }
}

/// The result as Lua sees it: the 32 bits as a signed integer.
fn bret(b: u32) -> LibResult {
    ret1(Value::Number(b as i32 as f64))
}

/// `band`, `bor`, `bxor`: argument 1, then the others from the last one down, as LuaBitOp reads
/// them (which decides which bad argument is reported).
fn fold(lua: &Lua, args: &Args, op: fn(u32, u32) -> u32) -> LibResult {
    let mut b = barg(lua, args, 1)?;
    for i in (2..=args.top()).rev() {
        b = op(b, barg(lua, args, i)?);
    }
    bret(b)
}

/// The shifts and rotations: the count is argument 2 modulo 32.
fn shift(lua: &Lua, args: &Args, op: fn(u32, u32) -> u32) -> LibResult {
    let b = barg(lua, args, 1)?;
    let n = barg(lua, args, 2)? & 31;
    bret(op(b, n))
}

fn tohex(lua: &Lua, args: &Args) -> LibResult {
    let mut b = barg(lua, args, 1)?;
    // Digits: 8 without a second argument; a negative count asks for upper case. (The count is
    // widened so that -(-2^31) is 2^31, which LuaBitOp as compiled for Redis also ends up
    // treating as 8 upper-case digits.)
    let mut n = if args.get(2).is_none() {
        8
    } else {
        barg(lua, args, 2)? as i32 as i64
    };
    let digits: &[u8; 16] = if n < 0 {
        n = -n;
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let n = n.min(8) as usize;
    let mut buf = [0u8; 8];
    for slot in buf[..n].iter_mut().rev() {
        *slot = digits[(b & 15) as usize];
        b >>= 4;
    }
    ret1(Value::String(lua.create_string(&buf[..n])?))
}

pub(super) fn open(lua: &Lua) -> mlua::Result<mlua::Table> {
    let f = |f: fn(&Lua, &Args) -> LibResult| function(lua, move |lua, args| f(lua, &args));
    module_table(
        lua,
        vec![
            ("tobit", f(|lua, a| bret(barg(lua, a, 1)?))?),
            ("bnot", f(|lua, a| bret(!barg(lua, a, 1)?))?),
            ("band", f(|lua, a| fold(lua, a, |x, y| x & y))?),
            ("bor", f(|lua, a| fold(lua, a, |x, y| x | y))?),
            ("bxor", f(|lua, a| fold(lua, a, |x, y| x ^ y))?),
            ("lshift", f(|lua, a| shift(lua, a, |b, n| b << n))?),
            ("rshift", f(|lua, a| shift(lua, a, |b, n| b >> n))?),
            (
                "arshift",
                f(|lua, a| shift(lua, a, |b, n| ((b as i32) >> n) as u32))?,
            ),
            ("rol", f(|lua, a| shift(lua, a, u32::rotate_left))?),
            ("ror", f(|lua, a| shift(lua, a, u32::rotate_right))?),
            ("bswap", f(|lua, a| bret(barg(lua, a, 1)?.swap_bytes()))?),
            ("tohex", f(tohex)?),
        ],
    )
}

#[cfg(test)]
mod tests {
    use crate::libs::testing::{check_cases, error_of, eval_str, lua};

    #[test]
    fn redis_minimal_bitop_checks() {
        let lua = lua();
        // scripting.tcl "Verify minimal bitop functionality" and "Numerical sanity check".
        let ok = eval_str(
            &lua,
            "assert(bit.tobit(1) == 1); assert(bit.band(1) == 1); assert(bit.bxor(1,2) == 3); \
             assert(bit.bor(1,2,4,8,16,32,64,128) == 255); \
             assert(0x7fffffff == 2147483647); assert(tostring(-1) == '-1'); return 'ok'",
        );
        assert_eq!(ok, "ok");
    }

    #[test]
    fn tobit_normalises_numbers() {
        let lua = lua();
        let cases = [
            ("bit.tobit(0xffffffff)", "-1"),
            ("bit.tobit(2^31)", "-2147483648"),
            ("bit.tobit(2^32 + 5)", "5"),
            ("bit.tobit(-1)", "-1"),
            ("bit.tobit(1.5)", "2"),
            ("bit.tobit(2.5)", "2"),
            ("bit.tobit(-1.5)", "-2"),
            ("bit.tobit('0x10')", "16"),
            ("bit.tobit(' 12 ')", "12"),
            ("bit.tobit(0/0)", "0"),
            ("bit.tobit(1/0)", "0"),
            ("bit.tobit(2^53)", "0"),
            ("bit.tobit(-2^31 - 1)", "2147483647"),
        ];
        for (expr, want) in cases {
            assert_eq!(eval_str(&lua, &format!("return {expr}")), want, "{expr}");
        }
    }

    #[test]
    fn operations() {
        let lua = lua();
        let cases = [
            ("bit.bnot(0)", "-1"),
            ("bit.bnot(-1)", "0"),
            ("bit.band(0xff00, 0x0ff0, 0x00ff)", "0"),
            ("bit.band(0xff00, 0x0ff0)", "3840"),
            ("bit.bor(1, 2, 0x80000000)", "-2147483645"),
            ("bit.bxor(0xff, 0x0f, 0xf0)", "0"),
            ("bit.lshift(1, 31)", "-2147483648"),
            ("bit.lshift(1, 32)", "1"),
            ("bit.lshift(1, 33)", "2"),
            ("bit.rshift(-256, 4)", "268435440"),
            ("bit.arshift(-256, 4)", "-16"),
            ("bit.arshift(0x7fffffff, 31)", "0"),
            ("bit.rol(0x12345678, 0)", "305419896"),
            ("bit.rol(0x12345678, 4)", "591751041"),
            ("bit.ror(0x12345678, 4)", "-2128394905"),
            ("bit.ror(1, 1)", "-2147483648"),
            ("bit.bswap(0x12345678)", "2018915346"),
            ("bit.bswap(-1)", "-1"),
        ];
        for (expr, want) in cases {
            assert_eq!(eval_str(&lua, &format!("return {expr}")), want, "{expr}");
        }
    }

    #[test]
    fn tohex_digits_and_case() {
        let lua = lua();
        let cases = [
            ("bit.tohex(1)", "00000001"),
            ("bit.tohex(-1)", "ffffffff"),
            ("bit.tohex(255, 0)", ""),
            ("bit.tohex(255, 2)", "ff"),
            ("bit.tohex(255, -2)", "FF"),
            ("bit.tohex(255, 12)", "000000ff"),
            ("bit.tohex(255, -9)", "000000FF"),
            ("bit.tohex(0xabcdef, -0x7fffffff)", "00ABCDEF"),
            ("bit.tohex(255, 0x80000000)", "000000FF"),
            ("bit.tohex(0x12345678, 3)", "678"),
        ];
        for (expr, want) in cases {
            assert_eq!(eval_str(&lua, &format!("return {expr}")), want, "{expr}");
        }
    }

    #[test]
    fn bad_arguments_are_reported_like_luabitop() {
        let lua = lua();
        assert_eq!(
            error_of(&lua, "return bit.tobit()"),
            "user_script:1: bad argument #1 to 'tobit' (number expected, got no value)"
        );
        assert_eq!(
            error_of(&lua, "return bit.band(1, nil, {})"),
            "user_script:1: bad argument #3 to 'band' (number expected, got table)"
        );
        assert_eq!(
            error_of(&lua, "return bit.bor('x', nil)"),
            "user_script:1: bad argument #1 to 'bor' (number expected, got string)"
        );
        assert_eq!(
            error_of(&lua, "return bit.tohex(1, nil)"),
            "user_script:1: bad argument #2 to 'tohex' (number expected, got nil)"
        );
        // Called through a local, the name is the local's; through pcall, unknown.
        assert_eq!(
            error_of(&lua, "local f = bit.lshift return f(1, false)"),
            "user_script:1: bad argument #2 to 'f' (number expected, got boolean)"
        );
        assert_eq!(
            eval_str(&lua, "local ok, e = pcall(bit.bnot) return e"),
            "bad argument #1 to '?' (number expected, got no value)"
        );
    }

    #[test]
    fn conversions_and_edge_cases_as_redis() {
        // Expected texts from Redis 7.0.15 running the same code.
        check_cases(
            &lua(),
            &[
                (
                    r#"return bit.tohex('ff')"#,
                    r#"ERR user_script:1: bad argument #1 to 'tohex' (number expected, got string)"#,
                ),
                (r#"return bit.tohex('0xff', '2')"#, r#"OK ff"#),
                (r#"return bit.band('1', '3')"#, r#"OK 1"#),
                (r#"return bit.lshift(1, -1)"#, r#"OK -2147483648"#),
                (r#"return bit.rshift(1, 2^32 + 1)"#, r#"OK 0"#),
                (r#"return bit.rol(1, -1)"#, r#"OK -2147483648"#),
                (r#"return bit.tobit(-0.5)"#, r#"OK 0"#),
                (r#"return bit.tobit(0.5)"#, r#"OK 0"#),
                (r#"return bit.tobit(-2^51)"#, r#"OK 0"#),
                (r#"return bit.tobit(2^52 + 1.5)"#, r#"OK 1"#),
                (r#"return bit.tobit('1e3')"#, r#"OK 1000"#),
                (r#"return bit.tobit('  0x1F  ')"#, r#"OK 31"#),
                (
                    r#"return bit.tobit('12a')"#,
                    r#"ERR user_script:1: bad argument #1 to 'tobit' (number expected, got string)"#,
                ),
                (
                    r#"return bit:band(1)"#,
                    r#"ERR user_script:1: calling 'band' on bad self (number expected, got table)"#,
                ),
                (
                    r#"local t = {} for i=1,7990 do t[i] = 'x'..i end return select('#', bit.band(1, unpack(t)))"#,
                    r#"ERR user_script:1: bad argument #7991 to 'band' (number expected, got string)"#,
                ),
                (
                    r#"local t = {} for i=1,7990 do t[i] = 2^i end return bit.bor(unpack(t))"#,
                    r#"OK -1"#,
                ),
                (
                    r#"local o = {} for k in pairs(bit) do o[#o+1] = k end return table.concat(o, ' ')"#,
                    r#"OK band rshift bor bnot bswap bxor tobit ror lshift tohex rol arshift"#,
                ),
            ],
        );
    }
}
