//! Drivers shared by the fuzz targets: feed one input to a parser the way a connection does
//! (append a read, parse everything complete, drop what was consumed) with reads cut at
//! chosen offsets, and return what the connection saw, so targets can compare cuttings.

use damselfly_protocol::memcache::{MemcacheLimits, MemcacheParsed};
use damselfly_protocol::{
    CommandArgs, MemcacheParser, MemcacheRequest, ParserLimits, ProtocolError, Reply, ReplyError,
    ReplyParser, RequestParser,
};

/// Read boundaries derived from `seed`: reads of 1..=64 bytes.
pub fn cuts_from_seed(len: usize, seed: u8) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut at = 0usize;
    let mut state = u32::from(seed) | 1;
    while at < len {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        at += 1 + (state % 64) as usize;
        cuts.push(at.min(len));
    }
    cuts
}

pub fn every_byte(len: usize) -> Vec<usize> {
    (1..=len).collect()
}

fn reads<'a>(input: &'a [u8], cuts: &[usize]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    bounds.push(input.len());
    bounds.sort_unstable();
    let mut from = 0;
    bounds.into_iter().map(move |end| {
        let read = &input[from..end];
        from = end;
        read
    })
}

#[derive(Debug, PartialEq)]
pub struct RequestTranscript {
    pub commands: Vec<Vec<Vec<u8>>>,
    pub error: Option<ProtocolError>,
}

pub fn run_requests(input: &[u8], cuts: &[usize], limits: ParserLimits) -> RequestTranscript {
    let mut parser = RequestParser::new(limits);
    let mut args = CommandArgs::new();
    let mut buffer = Vec::new();
    let mut commands = Vec::new();
    for read in reads(input, cuts) {
        buffer.extend_from_slice(read);
        loop {
            match parser.parse(&buffer, &mut args) {
                Ok(Some(consumed)) => {
                    assert!(consumed > 0 && consumed <= buffer.len());
                    assert!(!args.is_empty());
                    commands.push(args.to_vecs(&buffer));
                    buffer.drain(..consumed);
                }
                Ok(None) => break,
                Err(error) => {
                    let mut line = Vec::new();
                    error.write_reply(&mut line);
                    assert!(line.starts_with(b"-ERR Protocol error: ") && line.ends_with(b"\r\n"));
                    return RequestTranscript {
                        commands,
                        error: Some(error),
                    };
                }
            }
        }
    }
    RequestTranscript {
        commands,
        error: None,
    }
}

pub fn run_replies(input: &[u8], cuts: &[usize]) -> (Vec<Reply>, Option<ReplyError>) {
    let mut parser = ReplyParser::new();
    let mut buffer = Vec::new();
    let mut replies = Vec::new();
    for read in reads(input, cuts) {
        buffer.extend_from_slice(read);
        loop {
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

/// Debug forms of commands and errors (discarded chunks left out), and whether it closed.
pub fn run_memcache(input: &[u8], cuts: &[usize], limits: MemcacheLimits) -> (Vec<String>, bool) {
    let mut parser = MemcacheParser::new(limits);
    let mut buffer = Vec::new();
    let mut events = Vec::new();
    for read in reads(input, cuts) {
        buffer.extend_from_slice(read);
        loop {
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
