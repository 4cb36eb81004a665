//! Lua scripting for Damselfly (DESIGN.md §8): the interpreter with Redis's sandbox, the
//! `redis.*` API and Redis's Lua libraries. It depends on nothing else of Damselfly: commands
//! are called through the [`Host`] trait the coordinator implements.

pub mod libs;
