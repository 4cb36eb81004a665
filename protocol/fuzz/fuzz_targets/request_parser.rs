//! RESP/inline request parser: no panic, the same commands whatever the read boundaries,
//! and every parsed command re-encoded as multibulk parses back to itself.
#![no_main]

use damselfly_protocol::ParserLimits;
use damselfly_protocol_fuzz::{cuts_from_seed, every_byte, run_requests};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    // Small limits some of the time, so the limit paths are reached with small inputs. Limit
    // errors depend on how much was buffered (as in Redis), so cuttings compare only with the
    // default limits.
    if seed & 0x80 != 0 {
        let small = ParserLimits {
            bulk_len_max: 16,
            multibulk_len_max: 4,
            inline_len_max: 16,
            query_buffer_len_max: 1024,
        };
        let _ = run_requests(input, &cuts_from_seed(input.len(), seed), small);
        return;
    }
    let limits = ParserLimits::default();
    let whole = run_requests(input, &[], limits);
    assert_eq!(run_requests(input, &every_byte(input.len()), limits), whole);
    assert_eq!(
        run_requests(input, &cuts_from_seed(input.len(), seed), limits),
        whole
    );
    for command in &whole.commands {
        let mut encoded = format!("*{}\r\n", command.len()).into_bytes();
        for arg in command {
            encoded.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            encoded.extend_from_slice(arg);
            encoded.extend_from_slice(b"\r\n");
        }
        let again = run_requests(&encoded, &[], limits);
        assert_eq!(again.commands, vec![command.clone()]);
        assert_eq!(again.error, None);
    }
});
