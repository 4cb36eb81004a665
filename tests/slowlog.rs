//! SLOWLOG through real sockets: what is logged (EXEC's commands, not EXEC), trimming of
//! long argument lists and long arguments, redaction, GET counts and their error.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;
use damselfly_protocol::Reply;

fn entries(c: &mut Client, count: &str) -> Vec<Vec<Reply>> {
    let Reply::Array(list) = c.cmd(&["SLOWLOG", "GET", count]) else {
        panic!("SLOWLOG GET")
    };
    list.into_iter()
        .map(|e| match e {
            Reply::Array(fields) => fields,
            other => panic!("entry {other:?}"),
        })
        .collect()
}

fn args_of(entry: &[Reply]) -> Vec<String> {
    let Reply::Array(args) = &entry[3] else {
        panic!("args")
    };
    args.iter()
        .map(|a| match a {
            Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("arg {other:?}"),
        })
        .collect()
}

#[test]
fn logs_trims_and_redacts_like_redis() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]),
        ok()
    );
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), ok());
    c.cmd(&["CLIENT", "SETNAME", "me"]);
    let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    let mut sadd = vec!["SADD", "set"];
    sadd.extend(many.iter().map(String::as_str));
    c.cmd(&sadd);
    let newest = &entries(&mut c, "1")[0];
    let args = args_of(newest);
    assert_eq!(args.len(), 32);
    assert_eq!(args[31], "... (11 more arguments)");
    assert_eq!(newest[5], bulk("me"));
    let long = "A".repeat(129);
    c.cmd(&["SET", "k", &long]);
    let args = args_of(&entries(&mut c, "1")[0]);
    assert_eq!(args[2], format!("{}... (1 more bytes)", "A".repeat(128)));
    c.cmd(&["CONFIG", "SET", "requirepass", ""]);
    assert_eq!(
        args_of(&entries(&mut c, "1")[0]),
        ["CONFIG", "SET", "requirepass", "(redacted)"]
    );
    // EXEC is not logged; the commands it ran are.
    c.cmd(&["SLOWLOG", "RESET"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["INCR", "n"]);
    c.cmd(&["EXEC"]);
    let names: Vec<String> = entries(&mut c, "-1")
        .iter()
        .map(|e| args_of(e)[0].to_lowercase())
        .collect();
    assert_eq!(names, ["incr", "multi", "slowlog"]);
    assert_eq!(
        c.cmd(&["SLOWLOG", "GET", "-2"]),
        err("ERR count should be greater than or equal to -1")
    );
    c.cmd(&["CONFIG", "SET", "slowlog-max-len", "2"]);
    c.cmd(&["PING"]);
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), int(2));
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    c.cmd(&["SLOWLOG", "RESET"]);
    c.cmd(&["PING"]);
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), int(0));
}
