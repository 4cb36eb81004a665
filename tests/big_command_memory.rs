//! A command with a huge argument list must not keep its argument room once it has run: after
//! a 100,000-member SADD and an UNLINK of the set, `used_memory` (counted by the allocator the
//! server binary installs, which this test binary installs too) falls back to near where it
//! started while the same client keeps issuing small commands. One test only: the process's
//! allocations are the measure.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;
use damselfly_protocol::Reply;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: damselfly_coordinator::alloc_count::CountingMiMalloc =
    damselfly_coordinator::alloc_count::CountingMiMalloc;

fn used_memory(c: &mut Client) -> u64 {
    let text = match c.cmd(&["info", "memory"]) {
        Reply::Bulk(b) => String::from_utf8(b).unwrap(),
        other => panic!("INFO: {other:?}"),
    };
    text.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .expect("used_memory in INFO")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_huge_command_gives_its_argument_room_back() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    let before = used_memory(&mut c);
    {
        let members: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
        let mut args = vec!["sadd", "big"];
        args.extend(members.iter().map(String::as_str));
        assert_eq!(c.cmd(&args), int(100_000));
    }
    let peak = used_memory(&mut c);
    assert!(peak > before + 1_000_000, "{before} -> {peak}");
    assert_eq!(c.cmd(&["unlink", "big"]), int(1));
    // The set goes in the background; the query buffer is trimmed within its check period.
    let start = Instant::now();
    loop {
        let now = used_memory(&mut c);
        if now < before + 400_000 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "used_memory stays at {now} after the set went (before {before}, peak {peak})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
