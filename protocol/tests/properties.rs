//! Property tests: parsers against encoders, split inputs against whole inputs, garbage
//! against panics and endless loops.

use damselfly_protocol::{
    CommandArgs, ParserLimits, ProtocolError, Reply, ReplyError, ReplyParser, RequestParser,
};
use proptest::collection::vec;
use proptest::prelude::*;

type Command = Vec<Vec<u8>>;

fn encode_multibulk(command: &Command, out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", command.len()).as_bytes());
    for arg in command {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// What a connection sees: commands in order, then the error that closed it, if any.
#[derive(Debug, PartialEq)]
struct Transcript {
    commands: Vec<Command>,
    error: Option<ProtocolError>,
    unconsumed: usize,
}

/// Feeds `input` to one parser in reads cut at `cuts`, like a connection: append, parse all
/// complete commands, drop consumed bytes.
fn run_connection(input: &[u8], cuts: &[usize]) -> Transcript {
    let mut parser = RequestParser::new(ParserLimits::default());
    let mut args = CommandArgs::new();
    let mut buffer = Vec::new();
    let mut commands = Vec::new();
    let mut boundaries: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    boundaries.push(input.len());
    boundaries.sort_unstable();
    let mut read_from = 0;
    for end in boundaries {
        buffer.extend_from_slice(&input[read_from..end]);
        read_from = end;
        // Each call either completes a command (consuming at least one byte) or stops, so this
        // loop is bounded by the input length.
        for _ in 0..=buffer.len() {
            match parser.parse(&buffer, &mut args) {
                Ok(Some(consumed)) => {
                    assert!(consumed > 0 && consumed <= buffer.len());
                    assert!(!args.is_empty());
                    commands.push(args.to_vecs(&buffer));
                    buffer.drain(..consumed);
                }
                Ok(None) => break,
                Err(error) => {
                    // How much was buffered when the error struck depends on the reads.
                    return Transcript {
                        commands,
                        error: Some(error),
                        unconsumed: 0,
                    };
                }
            }
        }
    }
    Transcript {
        commands,
        error: None,
        unconsumed: buffer.len(),
    }
}

fn every_byte_cuts(len: usize) -> Vec<usize> {
    (0..len).collect()
}

fn arg_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..40),
        vec(prop::sample::select(b"\r\n$*\" '\\x".to_vec()), 0..12),
    ]
}

fn command_strategy() -> impl Strategy<Value = Command> {
    vec(arg_strategy(), 1..6)
}

/// Bytes that look like requests often enough to reach deep parser states.
fn request_like_garbage() -> impl Strategy<Value = Vec<u8>> {
    let tokens = prop::sample::select(vec![
        &b"*"[..],
        b"$",
        b"\r",
        b"\n",
        b"\r\n",
        b"1",
        b"2",
        b"0",
        b"-1",
        b"-",
        b"3",
        b"10",
        b" ",
        b"\"",
        b"'",
        b"\\x4",
        b"\\",
        b"a",
        b"PING",
        b"\x00",
        b"\xff",
    ]);
    vec(tokens, 0..60).prop_map(|parts| parts.concat())
}

fn reply_strategy() -> impl Strategy<Value = Reply> {
    let text = || {
        vec(
            any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
            0..12,
        )
    };
    let leaf = prop_oneof![
        text().prop_map(Reply::Simple),
        text().prop_map(Reply::Error),
        any::<i64>().prop_map(Reply::Integer),
        vec(any::<u8>(), 0..30).prop_map(Reply::Bulk),
        Just(Reply::NullBulk),
        Just(Reply::NullArray),
        Just(Reply::Null),
        any::<f64>()
            .prop_filter("NaN != NaN", |d| !d.is_nan())
            .prop_map(Reply::Double),
        any::<bool>().prop_map(Reply::Boolean),
        "-?[1-9][0-9]{0,40}".prop_map(|d| Reply::BigNumber(d.into_bytes())),
        (
            prop::sample::select(vec![*b"txt", *b"mkd"]),
            vec(any::<u8>(), 0..20)
        )
            .prop_map(|(format, text)| Reply::Verbatim { format, text }),
        vec(any::<u8>(), 0..20).prop_map(Reply::BlobError),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Reply::Array),
            vec(inner.clone(), 0..6).prop_map(Reply::Set),
            vec(inner.clone(), 0..6).prop_map(Reply::Push),
            vec((inner.clone(), inner.clone()), 0..4).prop_map(Reply::Map),
            (vec((inner.clone(), inner.clone()), 0..3), inner).prop_map(|(attributes, reply)| {
                Reply::Attribute {
                    attributes,
                    reply: Box::new(reply),
                }
            }),
        ]
    })
}

/// Feeds `input` to a reply parser in reads cut at `cuts`.
fn run_reply_stream(input: &[u8], cuts: &[usize]) -> (Vec<Reply>, Option<ReplyError>) {
    let mut parser = ReplyParser::new();
    let mut buffer = Vec::new();
    let mut replies = Vec::new();
    let mut boundaries: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    boundaries.push(input.len());
    boundaries.sort_unstable();
    let mut read_from = 0;
    for end in boundaries {
        buffer.extend_from_slice(&input[read_from..end]);
        read_from = end;
        for _ in 0..=buffer.len() {
            match parser.parse(&buffer) {
                Ok(Some((reply, consumed))) => {
                    assert!(consumed > 0 && consumed <= buffer.len());
                    replies.push(reply);
                    buffer.drain(..consumed);
                }
                Ok(None) => break,
                Err(error) => return (replies, Some(error)),
            }
        }
    }
    (replies, None)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn multibulk_round_trips_at_any_split(
        commands in vec(command_strategy(), 1..5),
        cuts in vec(any::<usize>(), 0..12),
    ) {
        let mut input = Vec::new();
        for command in &commands {
            encode_multibulk(command, &mut input);
        }
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        let expected = Transcript { commands, error: None, unconsumed: 0 };
        prop_assert_eq!(run_connection(&input, &[]), expected);
        let split = run_connection(&input, &cuts);
        prop_assert_eq!(&split.commands, &run_connection(&input, &[]).commands);
        prop_assert_eq!(split.unconsumed, 0);
    }

    #[test]
    fn multibulk_byte_by_byte(commands in vec(command_strategy(), 1..3)) {
        let mut input = Vec::new();
        for command in &commands {
            encode_multibulk(command, &mut input);
        }
        let transcript = run_connection(&input, &every_byte_cuts(input.len()));
        prop_assert_eq!(transcript, Transcript { commands, error: None, unconsumed: 0 });
    }

    #[test]
    fn inline_hex_quoting_round_trips(command in vec(vec(any::<u8>(), 0..16), 1..5)) {
        let mut line = Vec::new();
        for arg in &command {
            line.push(b'"');
            for byte in arg {
                line.extend_from_slice(format!("\\x{byte:02x}").as_bytes());
            }
            line.extend_from_slice(b"\" ");
        }
        line.extend_from_slice(b"\r\n");
        let transcript = run_connection(&line, &every_byte_cuts(line.len()));
        prop_assert_eq!(transcript, Transcript { commands: vec![command], error: None, unconsumed: 0 });
    }

    #[test]
    fn inline_words_round_trip(first in "[!#-&(-)+-~][!#-&(-~]{0,9}", rest in vec("[!#-&(-~]{1,10}", 0..8)) {
        let words: Vec<String> = std::iter::once(first).chain(rest).collect();
        let line = format!("{}\r\n", words.join(" ")).into_bytes();
        let command: Command = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        prop_assert_eq!(
            run_connection(&line, &[]),
            Transcript { commands: vec![command], error: None, unconsumed: 0 }
        );
    }

    #[test]
    fn garbage_never_panics_and_splits_agree(
        input in prop_oneof![vec(any::<u8>(), 0..300), request_like_garbage()],
        cuts in vec(any::<usize>(), 0..16),
    ) {
        let whole = run_connection(&input, &[]);
        prop_assert_eq!(&run_connection(&input, &cuts), &whole);
        prop_assert_eq!(&run_connection(&input, &every_byte_cuts(input.len())), &whole);
    }

    #[test]
    fn replies_round_trip_at_any_split(
        replies in vec(reply_strategy(), 1..4),
        cuts in vec(any::<usize>(), 0..12),
    ) {
        let mut input = Vec::new();
        for reply in &replies {
            reply.write_to(&mut input);
        }
        prop_assert_eq!(run_reply_stream(&input, &[]), (replies.clone(), None));
        prop_assert_eq!(run_reply_stream(&input, &cuts), (replies.clone(), None));
        prop_assert_eq!(run_reply_stream(&input, &every_byte_cuts(input.len())), (replies, None));
    }

    #[test]
    fn reply_garbage_never_panics_and_splits_agree(
        input in prop_oneof![
            vec(any::<u8>(), 0..300),
            vec(prop::sample::select(b"*%~>|$!=:+-_,#(\r\n0123-?tf.e".to_vec()), 0..120),
        ],
        cuts in vec(any::<usize>(), 0..16),
    ) {
        let whole = run_reply_stream(&input, &[]);
        prop_assert_eq!(&run_reply_stream(&input, &cuts), &whole);
        prop_assert_eq!(&run_reply_stream(&input, &every_byte_cuts(input.len())), &whole);
    }
}
