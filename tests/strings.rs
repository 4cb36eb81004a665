//! String commands over TCP, replies byte for byte as Redis 7 sends them.

mod common;
use common::*;

#[test]
fn get_set_and_options() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
    assert_eq!(c.cmd(&["GET", "missing"]), nil());
    assert_eq!(c.cmd(&["SET", "k", "w", "NX"]), nil());
    assert_eq!(c.cmd(&["SET", "k2", "w", "XX"]), nil());
    assert_eq!(c.cmd(&["SET", "k", "w", "XX", "GET"]), bulk("v"));
    assert_eq!(c.cmd(&["SET", "k", "x", "NX", "XX"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["SET", "k", "x", "EX", "0"]), err("ERR invalid expire time in 'set' command"));
    assert_eq!(c.cmd(&["SET", "k", "x", "EX", "abc"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["SET", "k", "x", "EX", "10", "PX", "100"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["SET", "k"]), err("ERR wrong number of arguments for 'set' command"));
    assert_eq!(c.cmd(&["SETNX", "k", "1"]), int(0));
    assert_eq!(c.cmd(&["SETNX", "new", "1"]), int(1));
    assert_eq!(c.cmd(&["SETEX", "e", "-1", "v"]), err("ERR invalid expire time in 'setex' command"));
    assert_eq!(c.cmd(&["GETSET", "k", "z"]), bulk("w"));
    assert_eq!(c.cmd(&["GETDEL", "k"]), bulk("z"));
    assert_eq!(c.cmd(&["GET", "k"]), nil());
    assert_eq!(c.cmd(&["APPEND", "a", "hello"]), int(5));
    assert_eq!(c.cmd(&["APPEND", "a", " world"]), int(11));
    assert_eq!(c.cmd(&["STRLEN", "a"]), int(11));
    s.shutdown();
}

#[test]
fn counters() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["INCR", "n"]), int(1));
    assert_eq!(c.cmd(&["INCRBY", "n", "41"]), int(42));
    assert_eq!(c.cmd(&["DECRBY", "n", "2"]), int(40));
    assert_eq!(c.cmd(&["DECR", "n"]), int(39));
    assert_eq!(c.cmd(&["SET", "big", "9223372036854775807"]), ok());
    assert_eq!(c.cmd(&["INCR", "big"]), err("ERR increment or decrement would overflow"));
    assert_eq!(c.cmd(&["SET", "s", "abc"]), ok());
    assert_eq!(c.cmd(&["INCR", "s"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "10.5"]), bulk("10.5"));
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "0.1"]), bulk("10.6"));
    assert_eq!(c.cmd(&["INCRBYFLOAT", "s", "1"]), err("ERR value is not a valid float"));
    s.shutdown();
}

#[test]
fn mset_mget_msetnx_across_shards() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    let mut args = vec!["MSET"];
    let keys: Vec<String> = (0..50).map(|i| format!("key:{i}")).collect();
    for k in &keys {
        args.push(k);
        args.push(k);
    }
    assert_eq!(c.cmd(&args), ok());
    let mut get = vec!["MGET"];
    get.extend(keys.iter().map(|s| s.as_str()));
    get.push("nope");
    let mut want: Vec<_> = keys.iter().map(|k| bulk(k)).collect();
    want.push(nil());
    assert_eq!(c.cmd(&get), arr(want));
    assert_eq!(c.cmd(&["MSETNX", "key:1", "x", "fresh", "y"]), int(0));
    assert_eq!(c.cmd(&["GET", "fresh"]), nil());
    assert_eq!(c.cmd(&["MSETNX", "fresh", "x", "fresh2", "y"]), int(1));
    assert_eq!(c.cmd(&["MGET", "fresh", "fresh2"]), arr(vec![bulk("x"), bulk("y")]));
    assert_eq!(c.cmd(&["MSET", "a"]), err("ERR wrong number of arguments for 'mset' command"));
    s.shutdown();
}
