//! Arguments of one command (spans into the connection's read buffer) and the parse helpers
//! that validate and produce Redis's error in one call.

use crate::error::CmdError;
use damselfly_protocol::CommandArgs;

#[derive(Copy, Clone)]
pub struct Args<'a> {
    input: &'a [u8],
    cmd: &'a CommandArgs,
}

impl<'a> Args<'a> {
    pub fn new(input: &'a [u8], cmd: &'a CommandArgs) -> Args<'a> {
        Args { input, cmd }
    }

    pub fn len(&self) -> usize {
        self.cmd.len()
    }

    /// The parsed form (spans into the bytes this was built from).
    pub fn parsed(&self) -> &'a CommandArgs {
        self.cmd
    }

    pub fn is_empty(&self) -> bool {
        self.cmd.is_empty()
    }

    pub fn get(&self, i: usize) -> &'a [u8] {
        self.cmd.get(self.input, i)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        self.cmd.iter(self.input)
    }

    /// Arguments from `from` on.
    pub fn rest(&self, from: usize) -> impl Iterator<Item = &'a [u8]> + 'a {
        let me = *self;
        (from..self.len()).map(move |i| me.get(i))
    }

    pub fn to_vecs(&self) -> Vec<Vec<u8>> {
        self.iter().map(|a| a.to_vec()).collect()
    }
}

/// Redis's `string2ll`: the whole argument must be a canonical signed 64-bit integer.
pub fn parse_i64(a: &[u8]) -> Result<i64, CmdError> {
    // string2ll accepts exactly the canonical forms: no '+', no leading zeros, no "-0".
    damselfly_shards::cell::parse_canonical_i64(a).ok_or(CmdError::NotInteger)
}

pub fn parse_u64(a: &[u8]) -> Result<u64, CmdError> {
    let v = parse_i64(a)?;
    u64::try_from(v).map_err(|_| CmdError::NotInteger)
}

pub fn eq_ignore_case(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}
