//! A pipeline whose last command arrives in two reads: the parser resumes that command where
//! it stopped, with the arguments it had already read, whatever the batch around it held.

// Test clients are plain threads outside the runtime.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;
use std::time::Duration;

#[test]
fn a_command_split_across_reads_after_a_batch_keeps_its_arguments() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    // The batch's first command has as many arguments (3) as the split one has when the
    // first read ends, so a resume from the wrong slot would look plausible.
    let mut first = Client::encode(&[b"SET", b"k", b"v"]);
    for i in 0..14 {
        first.extend(Client::encode(&[b"SET", format!("k{i}").as_bytes(), b"v"]));
    }
    let split = Client::encode(&[b"RPUSH", b"list", b"x", b"y", b"z"]);
    let cut = split.len() - 12; // after "x", inside "y"'s header or payload
    first.extend_from_slice(&split[..cut]);
    c.send_raw(&first);
    for _ in 0..15 {
        assert_eq!(c.read_reply(), ok());
    }
    std::thread::sleep(Duration::from_millis(100));
    c.send_raw(&split[cut..]);
    assert_eq!(c.read_reply(), int(3));
    assert_eq!(
        c.cmd(&["LRANGE", "list", "0", "-1"]),
        arr(vec![bulk("x"), bulk("y"), bulk("z")])
    );
}
