//! RESP reply parser: no panic, the same replies whatever the read boundaries, and every
//! parsed reply re-encodes to bytes that parse to the same encoding.
#![no_main]

use damselfly_protocol_fuzz::{cuts_from_seed, every_byte, run_replies};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let whole = run_replies(input, &[]);
    // Compare encodings: a NaN double is not equal to itself as a value.
    let encode = |replies: &[damselfly_protocol::Reply]| {
        let mut out = Vec::new();
        for reply in replies {
            reply.write_to(&mut out);
        }
        out
    };
    let split = run_replies(input, &every_byte(input.len()));
    assert_eq!(
        (encode(&split.0), split.1),
        (encode(&whole.0), whole.1.clone())
    );
    let chunked = run_replies(input, &cuts_from_seed(input.len(), seed));
    assert_eq!(
        (encode(&chunked.0), chunked.1),
        (encode(&whole.0), whole.1.clone())
    );
    let encoded = encode(&whole.0);
    let again = run_replies(&encoded, &[]);
    assert_eq!(again.1, None);
    assert_eq!(encode(&again.0), encoded);
});
