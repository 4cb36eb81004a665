//! `used_memory` tracks the process's RSS after churn: keys of mixed sizes and types (strings,
//! hashes, lists, sets, sorted sets) are written, half of them deleted at random, and as many
//! written again; INFO's used_memory is then within 10% of VmRSS (both counted from what the
//! process held before the first key). This test binary installs
//! the allocator the server binary runs on (mimalloc counting usable sizes), so the figures
//! are the ones a deployed server shows. One test only: the process's RSS is the measure.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;
use damselfly_protocol::Reply;

#[global_allocator]
static GLOBAL: damselfly_coordinator::alloc_count::CountingMiMalloc =
    damselfly_coordinator::alloc_count::CountingMiMalloc;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Half small (up to 64 bytes), 40% medium (to 512), 10% large (to 4 KiB).
    fn size(&mut self) -> usize {
        match self.below(10) {
            0..=4 => 1 + self.below(64) as usize,
            5..=8 => 65 + self.below(448) as usize,
            _ => 513 + self.below(3584) as usize,
        }
    }
}

/// The command that writes key `i`: a string 3 times in 5, else a collection of 1..40 members.
fn write_command(rng: &mut Rng, prefix: &str, i: usize) -> Vec<Vec<u8>> {
    let key = format!("{prefix}:{i}").into_bytes();
    let members = 1 + rng.below(40) as usize;
    let mut cmd: Vec<Vec<u8>> = match rng.below(5) {
        0..=2 => return vec![b"set".to_vec(), key, vec![b'x'; rng.size()]],
        3 => vec![b"hset".to_vec(), key],
        _ => match rng.below(3) {
            0 => vec![b"rpush".to_vec(), key],
            1 => vec![b"sadd".to_vec(), key],
            _ => vec![b"zadd".to_vec(), key],
        },
    };
    let kind = cmd[0].clone();
    for m in 0..members {
        let small = vec![b'v'; rng.size() / 8 + 1];
        match kind.as_slice() {
            b"hset" => cmd.extend([format!("f{m}").into_bytes(), small]),
            b"zadd" => cmd.extend([
                rng.below(1 << 20).to_string().into_bytes(),
                format!("m{m}").into_bytes(),
            ]),
            b"sadd" => cmd.push(format!("m{m}:{}", rng.next()).into_bytes()),
            _ => cmd.push(small),
        }
    }
    cmd
}

/// Sends the commands pipelined, 500 at a time (made as they go: the client holds little).
fn run(c: &mut Client, mut commands: impl Iterator<Item = Vec<Vec<u8>>>) {
    loop {
        let chunk: Vec<_> = commands.by_ref().take(500).collect();
        if chunk.is_empty() {
            return;
        }
        let mut bytes = Vec::new();
        for args in &chunk {
            let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            bytes.extend(Client::encode(&args));
        }
        c.send_raw(&bytes);
        for _ in 0..chunk.len() {
            let reply = c.read_reply();
            assert!(!matches!(reply, Reply::Error(_)), "{reply:?}");
        }
    }
}

fn used_memory(c: &mut Client) -> f64 {
    let Reply::Bulk(text) = c.cmd(&["info", "memory"]) else {
        panic!()
    };
    let text = String::from_utf8(text).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("used_memory:"))
        .unwrap();
    line["used_memory:".len()..].trim().parse().unwrap()
}

fn rss() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024.0
}

#[test]
fn used_memory_tracks_rss_after_churn() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    // What the process holds before any key and the allocator never sees (the test binary's
    // pages, thread and fiber stacks, io_uring rings) is set aside: the data's share is compared.
    let (used0, rss0) = (used_memory(&mut c), rss());
    let keys = 300_000;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    run(&mut c, (0..keys).map(|i| write_command(&mut rng, "k", i)));
    let (used, resident) = (used_memory(&mut c) - used0, rss() - rss0);
    eprintln!(
        "empty: used_memory {used0} rss {rss0}; filled: +{used} used_memory, +{resident} rss, ratio {:.3}",
        resident / used
    );
    // Half the keys go, chosen at random, then as many new keys come.
    let mut ids: Vec<usize> = (0..keys).collect();
    for i in (1..ids.len()).rev() {
        ids.swap(i, rng.below(i as u64 + 1) as usize);
    }
    run(
        &mut c,
        ids[..keys / 2]
            .iter()
            .map(|i| vec![b"del".to_vec(), format!("k:{i}").into_bytes()]),
    );
    run(
        &mut c,
        (0..keys / 2).map(|i| write_command(&mut rng, "r", i)),
    );
    assert_eq!(c.cmd(&["dbsize"]), int(keys as i64));
    let (used, resident) = (used_memory(&mut c) - used0, rss() - rss0);
    let ratio = resident / used;
    eprintln!("after churn: used_memory {used} rss {resident} ratio {ratio:.3}");
    assert!(
        (0.9..=1.1).contains(&ratio),
        "used_memory {used} is not within 10% of the RSS {resident} (ratio {ratio:.3})"
    );
}
