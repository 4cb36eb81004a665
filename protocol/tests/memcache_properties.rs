//! Property tests of the memcached parser: split reads agree with whole reads, storage
//! commands round-trip, garbage never panics.

use damselfly_protocol::memcache::{MemcacheLimits, MemcacheParsed};
use damselfly_protocol::{MemcacheParser, MemcacheRequest};
use proptest::collection::vec;
use proptest::prelude::*;

/// Runs `input` through one parser in reads cut at `cuts`; returns the debug form of every
/// command and error (discarded chunks left out: how many there are depends on the reads),
/// and whether the connection was closed.
fn run_connection(input: &[u8], cuts: &[usize], limits: MemcacheLimits) -> (Vec<String>, bool) {
    let mut parser = MemcacheParser::new(limits);
    let mut buffer = Vec::new();
    let mut events = Vec::new();
    let mut boundaries: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    boundaries.push(input.len());
    boundaries.sort_unstable();
    let mut read_from = 0;
    for end in boundaries {
        buffer.extend_from_slice(&input[read_from..end]);
        read_from = end;
        for _ in 0..=buffer.len() + 1 {
            match parser.parse(&buffer) {
                Ok(Some(MemcacheParsed { request, consumed })) => {
                    assert!(consumed > 0 && consumed <= buffer.len());
                    if request != MemcacheRequest::Discarded {
                        events.push(format!("{request:?}"));
                    }
                    buffer.drain(..consumed);
                }
                Ok(None) => break,
                Err(_) => return (events, true),
            }
        }
    }
    (events, false)
}

fn every_byte_cuts(len: usize) -> Vec<usize> {
    (0..len).collect()
}

fn memcache_like_garbage() -> impl Strategy<Value = Vec<u8>> {
    let tokens = prop::sample::select(vec![
        &b"get "[..],
        b"gets ",
        b"gat ",
        b"set ",
        b"cas ",
        b"append ",
        b"delete ",
        b"incr ",
        b"touch ",
        b"flush_all",
        b"mg ",
        b"ms ",
        b"md ",
        b"mn",
        b"me ",
        b"noreply",
        b"k ",
        b"0 ",
        b"1 ",
        b"5 ",
        b"-1 ",
        b"v ",
        b"T1 ",
        b"q ",
        b"\r\n",
        b"\n",
        b"\r",
        b" ",
        b"hello",
        b"\x00",
    ]);
    vec(tokens, 0..50).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn garbage_never_panics_and_splits_agree(
        input in prop_oneof![vec(any::<u8>(), 0..300), memcache_like_garbage()],
        cuts in vec(any::<usize>(), 0..16),
        value_len_max in prop_oneof![Just(1024 * 1024), 0usize..8],
    ) {
        let limits = MemcacheLimits { value_len_max };
        let whole = run_connection(&input, &[], limits);
        prop_assert_eq!(&run_connection(&input, &cuts, limits), &whole);
        prop_assert_eq!(&run_connection(&input, &every_byte_cuts(input.len()), limits), &whole);
    }

    #[test]
    fn storage_round_trips(
        key in "[!-~]{1,250}",
        flags in any::<u32>(),
        exptime in any::<i32>(),
        data in vec(any::<u8>(), 0..100),
        cas in any::<u64>(),
        noreply in any::<bool>(),
    ) {
        let mut input = format!(
            "cas {key} {flags} {exptime} {} {cas}{}\r\n",
            data.len(),
            if noreply { " noreply" } else { "" }
        )
        .into_bytes();
        input.extend_from_slice(&data);
        input.extend_from_slice(b"\r\n");
        let expected = format!(
            "{:?}",
            MemcacheRequest::Command(damselfly_protocol::MemcacheCommand::Store {
                kind: damselfly_protocol::memcache::StoreKind::Cas,
                key: key.as_bytes(),
                flags,
                exptime,
                cas_unique: cas,
                noreply,
                data: &data,
            })
        );
        let limits = MemcacheLimits::default();
        prop_assert_eq!(
            run_connection(&input, &every_byte_cuts(input.len()), limits),
            (vec![expected], false)
        );
    }
}
