//! Server commands over TCP: INFO, CONFIG, COMMAND, TIME, LASTSAVE, DEBUG, MEMORY, SHUTDOWN,
//! CLIENT KILL/SETINFO, replies as Redis 7 sends them.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;
use damselfly_coordinator::registry::Registry;
use damselfly_protocol::Reply;
use std::collections::HashMap;

/// The text of an INFO reply (bulk in RESP2, verbatim in RESP3).
fn info_text(r: Reply) -> String {
    match r {
        Reply::Bulk(b) => String::from_utf8(b).expect("utf-8"),
        Reply::Verbatim { format, text } => {
            assert_eq!(&format, b"txt");
            String::from_utf8(text).expect("utf-8")
        }
        other => panic!("INFO replied {other:?}"),
    }
}

/// Section titles and their fields.
fn parse_info(text: &str) -> (Vec<String>, HashMap<String, String>) {
    assert!(
        text.is_empty() || text.ends_with("\r\n"),
        "INFO ends with CRLF"
    );
    let mut titles = Vec::new();
    let mut fields = HashMap::new();
    for line in text.split("\r\n") {
        assert!(!line.contains('\n'), "bare LF in {line:?}");
        if let Some(t) = line.strip_prefix("# ") {
            titles.push(t.to_string());
        } else if let Some((k, v)) = line.split_once(':') {
            fields.insert(k.to_string(), v.to_string());
        } else {
            assert!(line.is_empty(), "unexpected INFO line {line:?}");
        }
    }
    (titles, fields)
}

fn num(fields: &HashMap<String, String>, name: &str) -> f64 {
    fields
        .get(name)
        .unwrap_or_else(|| panic!("INFO has no {name}"))
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number: {:?}", fields[name]))
}

fn info(c: &mut Client, args: &[&str]) -> (Vec<String>, HashMap<String, String>) {
    let mut a = vec!["INFO"];
    a.extend_from_slice(args);
    parse_info(&info_text(c.cmd(&a)))
}

fn bulks(r: Reply) -> Vec<String> {
    match r {
        Reply::Array(v) => v
            .into_iter()
            .map(|x| match x {
                Reply::Bulk(b) => String::from_utf8(b).unwrap(),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

fn has(name: &str) -> bool {
    Registry::get().lookup(name.as_bytes()).is_some()
}

#[test]
fn info_default_sections_and_fields() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    let (titles, f) = info(&mut c, &[]);
    assert_eq!(
        titles,
        [
            "Server",
            "Clients",
            "Memory",
            "Persistence",
            "Stats",
            "Replication",
            "CPU",
            "Modules",
            "Errorstats",
            "Cluster",
            "Keyspace"
        ]
    );
    assert_eq!(f["redis_version"], damselfly::REDIS_VERSION);
    assert_eq!(f["damselfly_version"], damselfly::VERSION);
    assert_eq!(f["redis_mode"], "standalone");
    assert_eq!(num(&f, "tcp_port") as u16, s.addr().port());
    assert_eq!(num(&f, "process_id") as u32, std::process::id());
    assert_eq!(f["run_id"].len(), 40);
    assert!(num(&f, "uptime_in_seconds") < 3600.0);
    assert_eq!(num(&f, "uptime_in_days"), 0.0);
    assert_eq!(num(&f, "hz"), 100.0);
    assert!(num(&f, "arch_bits") == 64.0 || num(&f, "arch_bits") == 32.0);
    assert!(!f["os"].is_empty());
    assert!(f.contains_key("executable"));
    assert!(num(&f, "connected_clients") >= 1.0);
    assert_eq!(num(&f, "maxclients"), 10000.0);
    assert_eq!(num(&f, "blocked_clients"), 0.0);
    let used = num(&f, "used_memory");
    assert!(used > 0.0);
    assert!(num(&f, "used_memory_peak") >= used);
    assert!(f["used_memory_human"].ends_with(['B', 'K', 'M', 'G']));
    assert!(num(&f, "used_memory_rss") > 0.0);
    assert_eq!(num(&f, "maxmemory"), 0.0);
    assert_eq!(f["maxmemory_policy"], "noeviction");
    assert!(num(&f, "mem_fragmentation_ratio") > 0.0);
    assert_eq!(num(&f, "loading"), 0.0);
    assert_eq!(num(&f, "rdb_bgsave_in_progress"), 0.0);
    assert_eq!(f["rdb_last_bgsave_status"], "ok");
    assert_eq!(num(&f, "aof_enabled"), 0.0);
    assert!(num(&f, "rdb_last_save_time") > 1.6e9);
    assert!(num(&f, "total_connections_received") >= 1.0);
    assert!(num(&f, "total_commands_processed") >= 1.0);
    assert!(num(&f, "total_net_input_bytes") > 0.0);
    for field in [
        "instantaneous_ops_per_sec",
        "total_net_output_bytes",
        "rejected_connections",
        "expired_keys",
        "evicted_keys",
        "keyspace_hits",
        "keyspace_misses",
        "used_cpu_sys",
        "used_cpu_user",
    ] {
        num(&f, field);
    }
    assert_eq!(f["role"], "master");
    assert_eq!(num(&f, "connected_slaves"), 0.0);
    assert_eq!(f["master_replid"].len(), 40);
    assert_eq!(num(&f, "master_repl_offset"), 0.0);
    assert_eq!(num(&f, "cluster_enabled"), 0.0);
    // Sections are separated by one blank line.
    let text = info_text(c.cmd(&["INFO"]));
    assert!(text.starts_with("# Server\r\n"));
    assert!(text.contains("\r\n\r\n# Clients\r\n"));
    assert!(!text.ends_with("\r\n\r\n"));
    s.shutdown();
}

#[test]
fn info_section_choice() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["INFO", "nosuch"]), bulk(""));
    assert_eq!(
        info(&mut c, &["CLIENTS", "server"]).0,
        ["Server", "Clients"]
    );
    assert_eq!(info(&mut c, &["server", "nosuch"]).0, ["Server"]);
    let all = info(&mut c, &["all"]).0;
    assert!(all.contains(&"Commandstats".to_string()));
    assert_eq!(all.first().map(|s| s.as_str()), Some("Server"));
    assert_eq!(all.last().map(|s| s.as_str()), Some("Keyspace"));
    assert_eq!(info(&mut c, &["everything"]).0, all);
    let default = info(&mut c, &["default"]).0;
    assert!(!default.contains(&"Commandstats".to_string()));
    assert!(!default.contains(&"Latencystats".to_string()));
    let mixed = info(&mut c, &["default", "commandstats", "latencystats"]).0;
    assert_eq!(mixed, all);
    // RESP3: a verbatim string, as Redis sends it.
    c.cmd(&["HELLO", "3"]);
    match c.cmd(&["INFO", "server"]) {
        Reply::Verbatim { format, text } => {
            assert_eq!(&format, b"txt");
            assert!(text.starts_with(b"# Server\r\nredis_version:"));
        }
        other => panic!("RESP3 INFO replied {other:?}"),
    }
    s.shutdown();
}

#[test]
fn info_keyspace_and_commandstats_count() {
    let s = server(3);
    let mut c = Client::connect(s.addr());
    assert_eq!(
        info(&mut c, &["keyspace"]),
        (vec!["Keyspace".to_string()], HashMap::new())
    );
    for i in 0..25 {
        assert_eq!(c.cmd(&["SET", &format!("k{i}"), "v"]), ok());
    }
    assert_eq!(c.cmd(&["SET", "e1", "v", "EX", "100"]), ok());
    assert_eq!(c.cmd(&["SELECT", "3"]), ok());
    assert_eq!(c.cmd(&["SET", "other", "v"]), ok());
    let (_, f) = info(&mut c, &["keyspace"]);
    assert_eq!(f["db0"], "keys=26,expires=1,avg_ttl=0");
    assert_eq!(f["db3"], "keys=1,expires=0,avg_ttl=0");
    assert_eq!(f.len(), 2);

    for _ in 0..3 {
        c.cmd(&["GET", "k1"]);
    }
    c.cmd(&["GET"]); // arity errors are not calls
    let (_, f) = info(&mut c, &["commandstats"]);
    let set = &f["cmdstat_set"];
    assert!(set.starts_with("calls=27,usec="), "{set}");
    assert!(set.contains(",usec_per_call="));
    assert!(set.ends_with(",rejected_calls=0,failed_calls=0"), "{set}");
    assert!(f["cmdstat_get"].starts_with("calls=3,"));
    assert!(f["cmdstat_select"].starts_with("calls=1,"));
    assert!(!f.contains_key("cmdstat_incr"));
    c.cmd(&["SET", "k1", "notanumber"]);
    assert!(c.cmd(&["INCR", "k1"]).is_error());
    let (_, f) = info(&mut c, &["commandstats"]);
    assert!(
        f["cmdstat_incr"].ends_with("failed_calls=1"),
        "{}",
        f["cmdstat_incr"]
    );

    // Writes count as changes since the last save.
    let (_, f) = info(&mut c, &["persistence"]);
    assert!(num(&f, "rdb_changes_since_last_save") >= 28.0);

    // Memory grows with the data.
    let before = num(&info(&mut c, &["memory"]).1, "used_memory");
    let big = "x".repeat(100_000);
    for i in 0..20 {
        c.cmd(&["SET", &format!("big{i}"), &big]);
    }
    let (_, m) = info(&mut c, &["memory"]);
    assert!(num(&m, "used_memory") >= before + 2_000_000.0);
    assert!(num(&m, "used_memory_peak") >= num(&m, "used_memory"));
    s.shutdown();
}

#[test]
fn config_get_set_resetstat() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    let pair = |k: &str, v: &str| arr(vec![bulk(k), bulk(v)]);
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxmemory"]),
        pair("maxmemory", "0")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "MAXMEMORY"]),
        pair("MAXMEMORY", "0")
    );
    assert_eq!(c.cmd(&["CONFIG", "GET", "nosuch"]), arr(vec![]));
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxclients", "maxmemory", "maxclients"]),
        arr(vec![
            bulk("maxclients"),
            bulk("10000"),
            bulk("maxmemory"),
            bulk("0")
        ])
    );
    let m = bulks(c.cmd(&["CONFIG", "GET", "max*"]));
    let names: Vec<&str> = m.iter().step_by(2).map(|s| s.as_str()).collect();
    assert!(names.contains(&"maxmemory") && names.contains(&"maxclients"));
    assert!(names.contains(&"maxmemory-policy"));
    assert!(names.iter().all(|n| n.starts_with("max")));
    // A glob and an exact name that overlap give the parameter once.
    let m = bulks(c.cmd(&["CONFIG", "GET", "maxmemory", "maxmem*"]));
    assert_eq!(m.iter().filter(|n| *n == "maxmemory").count(), 1);

    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxclients", "1234", "timeout", "5"]),
        ok()
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxclients"]),
        pair("maxclients", "1234")
    );
    assert_eq!(c.cmd(&["CONFIG", "GET", "timeout"]), pair("timeout", "5"));
    assert_eq!(c.cmd(&["CONFIG", "SET", "MAXMEMORY", "1kb"]), ok());
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxmemory"]),
        pair("maxmemory", "1024")
    );
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "0"]), ok());

    let failed = |arg: &str, why: &str| {
        err(&format!(
            "ERR CONFIG SET failed (possibly related to argument '{arg}') - {why}"
        ))
    };
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "nosuch", "1"]),
        err("ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxclients", "100", "nosuch", "1"]),
        err("ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxclients", "abc"]),
        failed("maxclients", "argument couldn't be parsed into an integer")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "timeout", "-1"]),
        failed(
            "timeout",
            "argument must be between 0 and 2147483647 inclusive"
        )
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory", "-1"]),
        failed("maxmemory", "argument must be a memory value")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "appendonly", "maybe"]),
        failed("appendonly", "argument must be 'yes' or 'no'")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxclients", "100", "maxclients", "200"]),
        failed("maxclients", "duplicate parameter")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "databases", "4"]),
        failed("databases", "can't set immutable config")
    );
    // All or nothing: a bad second value leaves the first unchanged.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxclients", "100", "timeout", "abc"]),
        failed("timeout", "argument couldn't be parsed into an integer")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxclients"]),
        pair("maxclients", "1234")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxclients"]),
        err("ERR wrong number of arguments for 'config|set' command")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxclients", "1", "timeout"]),
        err("ERR wrong number of arguments for 'config|set' command")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET"]),
        err("ERR wrong number of arguments for 'config|get' command")
    );
    assert_eq!(
        c.cmd(&["CONFIG"]),
        err("ERR wrong number of arguments for 'config' command")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "FOO"]),
        err("ERR unknown subcommand 'FOO'. Try CONFIG HELP.")
    );
    match c.cmd(&["CONFIG", "HELP"]) {
        Reply::Array(lines) => {
            assert_eq!(
                lines[0],
                simple("CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
            );
            assert_eq!(lines.last(), Some(&simple("    Prints this help.")));
        }
        other => panic!("CONFIG HELP replied {other:?}"),
    }

    // RESETSTAT zeroes the counters.
    for _ in 0..5 {
        c.cmd(&["GET", "x"]);
    }
    assert!(info(&mut c, &["commandstats"])
        .1
        .contains_key("cmdstat_get"));
    assert_eq!(
        c.cmd(&["CONFIG", "RESETSTAT", "x"]),
        err("ERR wrong number of arguments for 'config|resetstat' command")
    );
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), ok());
    let (_, f) = info(&mut c, &["commandstats", "stats"]);
    assert!(!f.contains_key("cmdstat_get"));
    assert!(num(&f, "total_commands_processed") <= 2.0);
    assert_eq!(num(&f, "total_connections_received"), 0.0);

    // RESP3: a map.
    c.cmd(&["HELLO", "3"]);
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxmemory"]),
        Reply::Map(vec![(bulk("maxmemory"), bulk("0"))])
    );
    s.shutdown();
}

/// `COMMAND INFO get` exactly as redis-server 7 sends it.
const GET_INFO: &[u8] = b"*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n";

#[test]
fn command_info_count_docs_list() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    let n = Registry::get().len() as i64;
    assert_eq!(c.cmd(&["COMMAND", "COUNT"]), int(n));
    assert_eq!(c.cmd_raw(&["COMMAND", "INFO", "get"]), GET_INFO);
    assert_eq!(c.cmd_raw(&["COMMAND", "INFO", "GET"]), GET_INFO);
    match c.cmd(&["COMMAND", "INFO", "nosuch", "ping"]) {
        Reply::Array(v) => {
            assert_eq!(v[0], nil());
            let Reply::Array(ping) = &v[1] else {
                panic!("{:?}", v[1])
            };
            assert_eq!(ping[0], bulk("ping"));
            assert_eq!(ping[1], int(-1));
            // No keys: 0 0 0 and no key specs.
            assert_eq!(&ping[3..6], &[int(0), int(0), int(0)]);
            assert_eq!(ping[8], arr(vec![]));
        }
        other => panic!("{other:?}"),
    }
    // MSET: every other argument from the first to the last.
    match c.cmd(&["COMMAND", "INFO", "mset"]) {
        Reply::Array(v) => {
            let Reply::Array(m) = &v[0] else { panic!() };
            assert_eq!(&m[3..6], &[int(1), int(-1), int(2)]);
        }
        other => panic!("{other:?}"),
    }
    for args in [&["COMMAND"][..], &["COMMAND", "INFO"][..]] {
        match c.cmd(args) {
            Reply::Array(all) => {
                assert_eq!(all.len() as i64, n);
                assert!(all
                    .iter()
                    .all(|e| matches!(e, Reply::Array(x) if x.len() == 10)));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        c.cmd(&["COMMAND", "COUNT", "x"]),
        err("ERR wrong number of arguments for 'command|count' command")
    );
    assert_eq!(
        c.cmd(&["COMMAND", "FOO"]),
        err("ERR unknown subcommand 'FOO'. Try COMMAND HELP.")
    );

    assert_eq!(
        c.cmd(&["COMMAND", "DOCS", "get", "nosuch"]),
        arr(vec![
            bulk("get"),
            arr(vec![
                bulk("summary"),
                bulk("Returns the string value of a key."),
                bulk("since"),
                bulk("1.0.0"),
                bulk("group"),
                bulk("string"),
            ])
        ])
    );
    match c.cmd(&["COMMAND", "DOCS"]) {
        Reply::Array(v) => assert_eq!(v.len() as i64, 2 * n),
        other => panic!("{other:?}"),
    }

    // COMMAND LIST names subcommands too; COMMAND COUNT only the commands.
    let list = bulks(c.cmd(&["COMMAND", "LIST"]));
    assert_eq!(list.iter().filter(|c| !c.contains('|')).count() as i64, n);
    assert!(list.contains(&"info".to_string()));
    for sub in [
        "config|get",
        "client|list",
        "object|encoding",
        "command|docs",
    ] {
        assert!(list.contains(&sub.to_string()), "{sub}");
    }
    let info = c.cmd(&[
        "COMMAND",
        "INFO",
        "config|get",
        "CONFIG|SET",
        "config|nosuch",
    ]);
    match info {
        Reply::Array(v) => {
            assert_eq!(v.len(), 3);
            assert!(
                matches!(&v[0], Reply::Array(f) if f[0] == bulk("config|get") && f[1] == int(-3))
            );
            assert!(matches!(&v[1], Reply::Array(f) if f[0] == bulk("config|set")));
            assert!(matches!(
                v[2],
                Reply::NullBulk | Reply::NullArray | Reply::Null
            ));
        }
        other => panic!("{other:?}"),
    }
    // A container's entry carries its subcommands' entries in the tenth field.
    match c.cmd(&["COMMAND", "INFO", "object"]) {
        Reply::Array(v) => match &v[0] {
            Reply::Array(f) => {
                assert_eq!(f[1], int(-2));
                assert!(matches!(&f[9], Reply::Array(subs) if subs.len() == 5));
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "OBJECT", "ENCODING", "k"]),
        arr(vec![bulk("k")])
    );
    let ge = bulks(c.cmd(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "GE*"]));
    assert!(ge.contains(&"get".to_string()) && ge.contains(&"getset".to_string()));
    assert!(ge.iter().all(|c| c.starts_with("ge")));
    let strings = bulks(c.cmd(&["COMMAND", "LIST", "FILTERBY", "ACLCAT", "string"]));
    assert!(strings.contains(&"append".to_string()) && !strings.contains(&"ping".to_string()));
    let fast = bulks(c.cmd(&["COMMAND", "LIST", "FILTERBY", "ACLCAT", "fast"]));
    assert!(fast.contains(&"get".to_string()) && !fast.contains(&"info".to_string()));
    assert_eq!(
        c.cmd(&["COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuch"]),
        arr(vec![])
    );
    assert_eq!(
        c.cmd(&["COMMAND", "LIST", "FILTERBY", "MODULE", "x"]),
        arr(vec![])
    );
    for bad in [
        &["COMMAND", "LIST", "FOO"][..],
        &["COMMAND", "LIST", "FILTERBY"][..],
        &["COMMAND", "LIST", "FILTERBY", "FOO", "x"][..],
    ] {
        assert_eq!(c.cmd(bad), err("ERR syntax error"));
    }
    match c.cmd(&["COMMAND", "HELP"]) {
        Reply::Array(lines) => assert_eq!(lines.len(), 21),
        other => panic!("{other:?}"),
    }

    // RESP3: flags and categories are sets, DOCS a map of maps.
    c.cmd(&["HELLO", "3"]);
    match c.cmd(&["COMMAND", "INFO", "get"]) {
        Reply::Array(v) => {
            let Reply::Array(g) = &v[0] else { panic!() };
            assert_eq!(g[2], Reply::Set(vec![simple("readonly"), simple("fast")]));
        }
        other => panic!("{other:?}"),
    }
    match c.cmd(&["COMMAND", "DOCS", "get"]) {
        Reply::Map(m) => {
            assert_eq!(m[0].0, bulk("get"));
            assert!(matches!(&m[0].1, Reply::Map(x) if x.len() == 3));
        }
        other => panic!("{other:?}"),
    }
    s.shutdown();
}

#[test]
fn command_getkeys() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "get", "k"]),
        arr(vec![bulk("k")])
    );
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]),
        arr(vec![bulk("a"), bulk("b")])
    );
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "mget", "a", "b", "c"]),
        arr(vec![bulk("a"), bulk("b"), bulk("c")])
    );
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "memory", "usage", "k"]),
        arr(vec![bulk("k")])
    );
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "nosuch", "a"]),
        err("ERR Invalid command specified")
    );
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "ping", "x"]),
        err("ERR The command has no key arguments")
    );
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "set", "a"]),
        err("ERR Invalid number of arguments specified for command")
    );
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "get"]),
        err("ERR wrong number of arguments for 'command|getkeys' command")
    );
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYSANDFLAGS", "get", "k"]),
        arr(vec![arr(vec![
            bulk("k"),
            arr(vec![simple("RO"), simple("access")])
        ])])
    );
    s.shutdown();
}

#[test]
fn time_and_lastsave() {
    let s = server(1);
    let mut c = Client::connect(s.addr());
    let t = bulks(c.cmd(&["TIME"]));
    assert_eq!(t.len(), 2);
    let secs: u64 = t[0].parse().unwrap();
    let usecs: u64 = t[1].parse().unwrap();
    assert!(secs > 1_600_000_000);
    assert!(usecs < 1_000_000);
    assert_eq!(
        c.cmd(&["TIME", "x"]),
        err("ERR wrong number of arguments for 'time' command")
    );
    match c.cmd(&["LASTSAVE"]) {
        Reply::Integer(t) => assert!(t as u64 <= secs && t > 1_600_000_000),
        other => panic!("{other:?}"),
    }
    s.shutdown();
}

#[test]
fn debug_populate_object_sleep() {
    let s = server(3);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "1000"]), ok());
    if has("dbsize") {
        assert_eq!(c.cmd(&["DBSIZE"]), int(1000));
    }
    for i in [0, 1, 499, 999] {
        assert_eq!(
            c.cmd(&["GET", &format!("key:{i}")]),
            bulk(&format!("value:{i}"))
        );
    }
    assert_eq!(c.cmd(&["GET", "key:1000"]), nil());
    let (_, f) = info(&mut c, &["keyspace"]);
    assert_eq!(f["db0"], "keys=1000,expires=0,avg_ttl=0");

    // Existing keys are kept; prefix and size as Redis: truncated or padded with NULs.
    assert_eq!(c.cmd(&["SET", "p:1", "mine"]), ok());
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "3", "p", "3"]), ok());
    assert_eq!(c.cmd(&["GET", "p:0"]), bulk("val"));
    assert_eq!(c.cmd(&["GET", "p:1"]), bulk("mine"));
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "1", "q", "10"]), ok());
    assert_eq!(
        c.cmd(&["GET", "q:0"]),
        Reply::Bulk(b"value:0\0\0\0".to_vec())
    );
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "0"]), ok());
    for bad in [
        &["DEBUG", "POPULATE", "-1"][..],
        &["DEBUG", "POPULATE", "abc"][..],
        &["DEBUG", "POPULATE", "1", "r", "-5"][..],
    ] {
        assert_eq!(
            c.cmd(bad),
            err("ERR value is out of range, must be positive")
        );
    }
    assert_eq!(
        c.cmd(&["DEBUG", "POPULATE", "1", "r", "5", "x"]),
        err("ERR unknown subcommand or wrong number of arguments for 'POPULATE'. Try DEBUG HELP.")
    );
    assert_eq!(
        c.cmd(&["DEBUG"]),
        err("ERR wrong number of arguments for 'debug' command")
    );
    assert_eq!(
        c.cmd(&["DEBUG", "foo"]),
        err("ERR unknown subcommand or wrong number of arguments for 'foo'. Try DEBUG HELP.")
    );
    // In another database.
    assert_eq!(c.cmd(&["SELECT", "2"]), ok());
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "10", "d"]), ok());
    assert_eq!(c.cmd(&["GET", "d:9"]), bulk("value:9"));
    assert_eq!(c.cmd(&["SELECT", "0"]), ok());
    assert_eq!(c.cmd(&["GET", "d:9"]), nil());

    // DEBUG OBJECT: encoding and RDB length as Redis reports them.
    let object = |c: &mut Client, k: &str| match c.cmd(&["DEBUG", "OBJECT", k]) {
        Reply::Simple(s) => String::from_utf8(s).unwrap(),
        other => panic!("{other:?}"),
    };
    let o = object(&mut c, "p:0");
    assert!(o.starts_with("Value at:0x"), "{o}");
    assert!(
        o.contains(" refcount:1 encoding:embstr serializedlength:4 lru:"),
        "{o}"
    );
    c.cmd(&["SET", "n", "12345"]);
    assert!(object(&mut c, "n").contains("encoding:int serializedlength:3 "));
    c.cmd(&["SET", "long", &"a".repeat(50)]);
    assert!(object(&mut c, "long").contains("encoding:raw serializedlength:51 "));
    assert_eq!(
        c.cmd(&["DEBUG", "OBJECT", "nosuch"]),
        err("ERR no such key")
    );

    // DEBUG SLEEP parks only its own connection.
    assert_eq!(c.cmd(&["DEBUG", "SLEEP", "0"]), ok());
    assert_eq!(c.cmd(&["DEBUG", "SLEEP", "abc"]), ok());
    let mut sleeper = Client::connect(s.addr());
    sleeper.send_raw(&Client::encode(&[b"DEBUG", b"SLEEP", b"0.5"]));
    let mut other = Client::connect(s.addr());
    assert_eq!(other.cmd(&["PING"]), simple("PONG"));
    assert_eq!(sleeper.read_reply(), ok());
    s.shutdown();
}

#[test]
fn memory_usage() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    c.cmd(&["SET", "small", "v"]);
    c.cmd(&["SET", "big", &"x".repeat(1000)]);
    let usage = |c: &mut Client, args: &[&str]| match c.cmd(args) {
        Reply::Integer(n) => n,
        other => panic!("{other:?}"),
    };
    let small = usage(&mut c, &["MEMORY", "USAGE", "small"]);
    let big = usage(&mut c, &["MEMORY", "USAGE", "big"]);
    assert!(small >= 32, "{small}");
    assert!(big >= small + 1000, "{big}");
    assert_eq!(
        usage(&mut c, &["MEMORY", "USAGE", "big", "SAMPLES", "0"]),
        big
    );
    c.cmd(&["SET", "ttl", "v", "EX", "100"]);
    assert!(usage(&mut c, &["MEMORY", "USAGE", "ttl"]) > small);
    assert_eq!(c.cmd(&["MEMORY", "USAGE", "nosuch"]), nil());
    assert_eq!(
        c.cmd(&["MEMORY", "USAGE", "small", "SAMPLES", "x"]),
        err("ERR value is not an integer or out of range")
    );
    for bad in [
        &["MEMORY", "USAGE", "small", "SAMPLES"][..],
        &["MEMORY", "USAGE", "small", "SAMPLES", "-1"][..],
        &["MEMORY", "USAGE", "small", "FOO", "1"][..],
    ] {
        assert_eq!(c.cmd(bad), err("ERR syntax error"));
    }
    assert_eq!(
        c.cmd(&["MEMORY", "USAGE"]),
        err("ERR wrong number of arguments for 'memory|usage' command")
    );
    assert_eq!(
        c.cmd(&["MEMORY", "FOO"]),
        err("ERR unknown subcommand 'FOO'. Try MEMORY HELP.")
    );
    match c.cmd(&["MEMORY", "HELP"]) {
        Reply::Array(lines) => {
            assert_eq!(lines[1], simple("DOCTOR"));
            assert!(lines.contains(&simple("USAGE <key> [SAMPLES <count>]")));
        }
        other => panic!("{other:?}"),
    }
    s.shutdown();
}

#[test]
fn shutdown_closes_the_connection_and_stops_the_server() {
    let s = server(2);
    let addr = s.addr();
    let mut c = Client::connect(addr);
    assert_eq!(c.cmd(&["SHUTDOWN", "FOO"]), err("ERR syntax error"));
    assert_eq!(
        c.cmd(&["SHUTDOWN", "SAVE", "NOSAVE"]),
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["SHUTDOWN", "ABORT", "NOW"]),
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["SHUTDOWN", "ABORT"]),
        err("ERR No shutdown in progress.")
    );
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    c.send_raw(&Client::encode(&[b"SHUTDOWN", b"NOSAVE"]));
    assert!(
        c.is_closed(),
        "SHUTDOWN closes the connection without a reply"
    );
    // The embedding program sees the request and stops the server.
    s.wait(|| false);
    s.shutdown();
    assert!(std::net::TcpStream::connect(addr).is_err());
}

/// CLIENT INFO's text (bulk in RESP2).
fn client_info(c: &mut Client) -> String {
    info_text(c.cmd(&["CLIENT", "INFO"]))
}

/// `field=value` of a CLIENT LIST or CLIENT INFO line.
fn client_field(line: &str, field: &str) -> String {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{field}=")))
        .unwrap_or_else(|| panic!("no {field} in {line:?}"))
        .to_string()
}

/// A client the server has registered (it answered a PING), so CLIENT KILL and LIST see it.
fn ready(addr: std::net::SocketAddr) -> Client {
    let mut c = Client::connect(addr);
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    c
}

#[test]
fn client_kill_filters() {
    let s = server(2);
    let addr = s.addr();
    let mut a = ready(addr);
    let mut b = ready(addr);
    let mut c = ready(addr);
    let kill = |a: &mut Client, args: &[&str]| {
        let mut cmd = vec!["CLIENT", "KILL"];
        cmd.extend_from_slice(args);
        a.cmd(&cmd)
    };
    // Every connection is a normal client of the default user: other types match none.
    for t in ["master", "MASTER", "replica", "slave", "pubsub"] {
        assert_eq!(kill(&mut a, &["TYPE", t]), int(0), "{t}");
        assert_eq!(kill(&mut a, &["TYPE", t, "SKIPME", "no"]), int(0), "{t}");
    }
    assert_eq!(kill(&mut a, &["USER", "default", "TYPE", "pubsub"]), int(0));
    assert_eq!(kill(&mut a, &["ID", "99999"]), int(0));
    assert_eq!(kill(&mut a, &["ADDR", "1.2.3.4:5"]), int(0));
    assert_eq!(kill(&mut a, &["LADDR", "1.2.3.4:5"]), int(0));
    assert_eq!(kill(&mut a, &["MAXAGE", "100000"]), int(0));
    assert_eq!(b.cmd(&["PING"]), simple("PONG"));
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));

    // Bad filters, checked in order.
    let bad_id = err("ERR client-id should be greater than 0");
    for id in ["0", "-1", "abc", "1.5", "9223372036854775808"] {
        assert_eq!(kill(&mut a, &["ID", id]), bad_id, "{id}");
    }
    assert_eq!(kill(&mut a, &["ID", "0", "TYPE"]), bad_id);
    assert_eq!(
        kill(&mut a, &["TYPE", "bogus"]),
        err("ERR Unknown client type 'bogus'")
    );
    assert_eq!(
        kill(&mut a, &["TYPE", "bogus", "ID", "0"]),
        err("ERR Unknown client type 'bogus'")
    );
    assert_eq!(
        kill(&mut a, &["USER", "nosuchuser"]),
        err("ERR No such user 'nosuchuser'")
    );
    assert_eq!(
        kill(&mut a, &["USER", "Default"]),
        err("ERR No such user 'Default'")
    );
    assert_eq!(
        kill(&mut a, &["MAXAGE", "x"]),
        err("ERR maxage is not an integer or out of range")
    );
    for age in ["0", "-5"] {
        assert_eq!(
            kill(&mut a, &["MAXAGE", age]),
            err("ERR maxage should be greater than 0")
        );
    }
    let syntax = err("ERR syntax error");
    assert_eq!(kill(&mut a, &["SKIPME", "maybe"]), syntax);
    assert_eq!(kill(&mut a, &["ID", "5", "x"]), syntax);
    assert_eq!(kill(&mut a, &["foo", "bar"]), syntax);
    // The old form with one argument is an address.
    assert_eq!(kill(&mut a, &["TYPE"]), err("ERR No such client"));
    assert_eq!(kill(&mut a, &["1.2.3.4:5"]), err("ERR No such client"));
    assert_eq!(b.cmd(&["PING"]), simple("PONG"));

    // ID with a type that does not match keeps the client; with a matching one kills it.
    let b_id = match b.cmd(&["CLIENT", "ID"]) {
        Reply::Integer(i) => i.to_string(),
        other => panic!("CLIENT ID replied {other:?}"),
    };
    assert_eq!(kill(&mut a, &["ID", &b_id, "TYPE", "master"]), int(0));
    assert_eq!(b.cmd(&["PING"]), simple("PONG"));
    assert_eq!(kill(&mut a, &["ID", &b_id, "TYPE", "normal"]), int(1));
    assert!(b.is_closed());
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));

    // ADDR and LADDR together.
    let mut b = ready(addr);
    let line = client_info(&mut b);
    let (b_addr, b_laddr) = (client_field(&line, "addr"), client_field(&line, "laddr"));
    assert_eq!(
        kill(&mut a, &["ADDR", &b_addr, "LADDR", "1.2.3.4:5"]),
        int(0)
    );
    assert_eq!(kill(&mut a, &["ADDR", &b_addr, "LADDR", &b_laddr]), int(1));
    assert!(b.is_closed());

    // TYPE normal and USER default match every client but the caller.
    let mut b = ready(addr);
    assert_eq!(kill(&mut a, &["TYPE", "normal"]), int(2));
    assert!(b.is_closed());
    assert!(c.is_closed());
    let mut b = ready(addr);
    let mut c = ready(addr);
    assert_eq!(kill(&mut a, &["USER", "default"]), int(2));
    assert!(b.is_closed());
    assert!(c.is_closed());

    // MAXAGE keeps clients younger than the age.
    let mut b = ready(addr);
    assert_eq!(b.cmd(&["PING"]), simple("PONG"));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut c = ready(addr);
    assert_eq!(kill(&mut a, &["MAXAGE", "1"]), int(1));
    assert!(b.is_closed());
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));

    // SKIPME no: the caller is killed too, after its reply.
    assert_eq!(kill(&mut a, &["TYPE", "normal", "SKIPME", "no"]), int(2));
    assert!(c.is_closed());
    assert!(a.is_closed());

    // The old form may kill the caller itself.
    let mut a = ready(addr);
    let a_addr = client_field(&client_info(&mut a), "addr");
    assert_eq!(kill(&mut a, &[&a_addr]), ok());
    assert!(a.is_closed());

    let mut a = ready(addr);
    assert_eq!(a.cmd(&["CLIENT", "LIST", "TYPE", "master"]), bulk(""));
    assert_eq!(
        a.cmd(&["CLIENT", "LIST", "TYPE", "bogus"]),
        err("ERR Unknown client type 'bogus'")
    );
    let list = info_text(a.cmd(&["CLIENT", "LIST", "TYPE", "NORMAL"]));
    assert_eq!(list.lines().count(), 1, "{list}");
    s.shutdown();
}

#[test]
fn client_setinfo_shows_in_list_and_info() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    let line = client_info(&mut c);
    assert!(line.trim_end().ends_with("lib-name= lib-ver="), "{line}");
    assert_eq!(c.cmd(&["CLIENT", "SETINFO", "LIB-NAME", "redis-py"]), ok());
    assert_eq!(c.cmd(&["CLIENT", "SETINFO", "lib-ver", "5.0.1"]), ok());
    let line = client_info(&mut c);
    assert!(
        line.trim_end().ends_with("lib-name=redis-py lib-ver=5.0.1"),
        "{line}"
    );
    let id = match c.cmd(&["CLIENT", "ID"]) {
        Reply::Integer(i) => i.to_string(),
        other => panic!("CLIENT ID replied {other:?}"),
    };
    let list = info_text(c.cmd(&["CLIENT", "LIST", "ID", &id]));
    assert_eq!(client_field(&list, "lib-name"), "redis-py");
    assert_eq!(client_field(&list, "lib-ver"), "5.0.1");
    // Another connection has its own.
    let mut other = Client::connect(s.addr());
    let line = client_info(&mut other);
    assert_eq!(client_field(&line, "lib-name"), "");

    assert_eq!(
        c.cmd(&["CLIENT", "SETINFO", "lib-foo", "x"]),
        err("ERR Unrecognized option 'lib-foo'")
    );
    for bad in ["a b", "a\nb", "\t", "caf\u{e9}"] {
        assert_eq!(
            c.cmd(&["CLIENT", "SETINFO", "Lib-Name", bad]),
            err("ERR Lib-Name cannot contain spaces, newlines or special characters."),
            "{bad:?}"
        );
        assert_eq!(
            c.cmd(&["CLIENT", "SETINFO", "lib-ver", bad]),
            err("ERR lib-ver cannot contain spaces, newlines or special characters."),
            "{bad:?}"
        );
    }
    assert_eq!(
        c.cmd(&["CLIENT", "SETINFO", "lib-name"]),
        err("ERR wrong number of arguments for 'client|setinfo' command")
    );
    // A rejected value leaves the old one; an empty value clears it.
    assert_eq!(client_field(&client_info(&mut c), "lib-name"), "redis-py");
    assert_eq!(c.cmd(&["CLIENT", "SETINFO", "lib-name", ""]), ok());
    let line = client_info(&mut c);
    assert!(
        line.trim_end().ends_with("lib-name= lib-ver=5.0.1"),
        "{line}"
    );
    // RESET keeps them: they describe the library behind the connection.
    assert_eq!(c.cmd(&["CLIENT", "SETINFO", "lib-name", "jedis"]), ok());
    assert_eq!(c.cmd(&["RESET"]), simple("RESET"));
    assert_eq!(client_field(&client_info(&mut c), "lib-name"), "jedis");
    s.shutdown();
}

/// `CONFIG GET <patterns...>` as a name → value map.
fn config_map(c: &mut Client, patterns: &[&str]) -> HashMap<String, String> {
    let mut cmd = vec!["CONFIG", "GET"];
    cmd.extend_from_slice(patterns);
    let v = bulks(c.cmd(&cmd));
    v.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect()
}

#[test]
fn config_get_lists_what_clients_read() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    let all = config_map(&mut c, &["*"]);
    let expected = [
        ("slowlog-log-slower-than", "10000"),
        ("slowlog-max-len", "128"),
        ("hash-max-listpack-entries", "512"),
        ("hash-max-listpack-value", "64"),
        ("hash-max-ziplist-entries", "512"),
        ("notify-keyspace-events", ""),
        ("maxmemory-policy", "noeviction"),
        ("maxmemory", "0"),
        ("save", ""),
        ("appendonly", "no"),
        ("timeout", "0"),
        ("tcp-keepalive", "300"),
        ("databases", "16"),
        ("list-max-listpack-size", "-2"),
        ("list-max-ziplist-size", "-2"),
        ("set-max-intset-entries", "512"),
        ("zset-max-listpack-entries", "128"),
        ("zset-max-listpack-value", "64"),
        (
            "client-output-buffer-limit",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        ),
        ("client-query-buffer-limit", "1073741824"),
        ("proto-max-bulk-len", "536870912"),
        ("maxmemory-clients", "0"),
        ("protected-mode", "yes"),
        ("requirepass", ""),
        ("cluster-enabled", "no"),
        ("maxclients", "10000"),
    ];
    for (name, value) in expected {
        assert_eq!(all.get(name).map(String::as_str), Some(value), "{name}");
    }
    // Globs, several patterns, aliases listed beside their names, names echoed as asked.
    let m = config_map(&mut c, &["hash-max-*", "set-*"]);
    let mut names: Vec<&str> = m.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "hash-max-listpack-entries",
            "hash-max-listpack-value",
            "hash-max-ziplist-entries",
            "hash-max-ziplist-value",
            "set-max-intset-entries",
            "set-max-listpack-entries",
            "set-max-listpack-value"
        ]
    );
    assert_eq!(
        c.cmd(&[
            "CONFIG",
            "GET",
            "HASH-MAX-ZIPLIST-ENTRIES",
            "maxmemory",
            "MAXMEMORY"
        ]),
        arr(vec![
            bulk("HASH-MAX-ZIPLIST-ENTRIES"),
            bulk("512"),
            bulk("maxmemory"),
            bulk("0")
        ])
    );
    assert_eq!(
        config_map(&mut c, &["*-max-listpack-?ntries"]).len(),
        3,
        "hash, set and zset"
    );

    // Stored values come back in Redis's formats.
    let set = |c: &mut Client, name: &str, value: &str| c.cmd(&["CONFIG", "SET", name, value]);
    let get = |c: &mut Client, name: &str| config_map(c, &[name]).remove(name).unwrap();
    assert_eq!(set(&mut c, "hash-max-ziplist-entries", "100"), ok());
    assert_eq!(get(&mut c, "hash-max-listpack-entries"), "100");
    assert_eq!(set(&mut c, "hash-max-listpack-value", "1kb"), ok());
    assert_eq!(get(&mut c, "hash-max-ziplist-value"), "1024");
    assert_eq!(set(&mut c, "slowlog-log-slower-than", "-1"), ok());
    assert_eq!(get(&mut c, "slowlog-log-slower-than"), "-1");
    assert_eq!(set(&mut c, "save", "3600 1 300 100 60 10000"), ok());
    assert_eq!(get(&mut c, "save"), "3600 1 300 100 60 10000");
    assert_eq!(set(&mut c, "save", "03600 01"), ok());
    assert_eq!(get(&mut c, "save"), "3600 1");
    assert_eq!(set(&mut c, "save", ""), ok());
    assert_eq!(get(&mut c, "save"), "");
    for (events, shown) in [
        ("KEA", "AKE"),
        ("Ex", "xE"),
        ("$lshzxetmdn", "$lshzxetdnm"),
        ("AmnKE", "AKEm"),
        ("ggKK", "gK"),
        ("", ""),
    ] {
        assert_eq!(set(&mut c, "notify-keyspace-events", events), ok());
        assert_eq!(get(&mut c, "notify-keyspace-events"), shown, "{events}");
    }
    assert_eq!(
        set(&mut c, "client-output-buffer-limit", "normal 1mb 2mb 60"),
        ok()
    );
    assert_eq!(
        set(&mut c, "client-output-buffer-limit", "replica 1kb 2k 3"),
        ok()
    );
    assert_eq!(
        get(&mut c, "client-output-buffer-limit"),
        "normal 1048576 2097152 60 slave 1024 2000 3 pubsub 33554432 8388608 60"
    );

    let failed = |arg: &str, why: &str| {
        err(&format!(
            "ERR CONFIG SET failed (possibly related to argument '{arg}') - {why}"
        ))
    };
    for bad in ["3600 1 300", "abc 1", "0 0", "3600 -1", " 3600 1"] {
        assert_eq!(
            set(&mut c, "save", bad),
            failed("save", "Invalid save parameters"),
            "{bad:?}"
        );
    }
    assert_eq!(
        set(&mut c, "notify-keyspace-events", "q"),
        failed(
            "notify-keyspace-events",
            "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
        )
    );
    let cobl = "client-output-buffer-limit";
    assert_eq!(
        set(&mut c, cobl, "pubsub 1 2"),
        failed(
            cobl,
            "Wrong number of arguments in buffer limit configuration."
        )
    );
    assert_eq!(
        set(&mut c, cobl, "master 1 2 3"),
        failed(
            cobl,
            "Invalid client class specified in buffer limit configuration."
        )
    );
    assert_eq!(
        set(&mut c, cobl, "normal 1 1 -1"),
        failed(
            cobl,
            "Error in hard, soft or soft_seconds setting in buffer limit configuration."
        )
    );
    assert_eq!(
        set(&mut c, "slowlog-log-slower-than", "-2"),
        failed(
            "slowlog-log-slower-than",
            "argument must be between -1 and 9223372036854775807 inclusive"
        )
    );
    assert_eq!(
        set(&mut c, "set-max-intset-entries", "1kb"),
        failed(
            "set-max-intset-entries",
            "argument couldn't be parsed into an integer"
        )
    );
    assert_eq!(
        set(&mut c, "protected-mode", "maybe"),
        failed("protected-mode", "argument must be 'yes' or 'no'")
    );
    assert_eq!(
        set(&mut c, "cluster-enabled", "yes"),
        failed("cluster-enabled", "can't set immutable config")
    );
    // requirepass applies at once: this (already authenticated) client keeps working.
    assert_eq!(set(&mut c, "requirepass", "secret"), ok());
    assert_eq!(get(&mut c, "requirepass"), "secret");
    assert_eq!(set(&mut c, "requirepass", ""), ok());
    assert_eq!(set(&mut c, "protected-mode", "no"), ok());
    assert_eq!(get(&mut c, "protected-mode"), "no");
    assert_eq!(set(&mut c, "protected-mode", "yes"), ok());
    assert_eq!(get(&mut c, "requirepass"), "");
    s.shutdown();
}

#[test]
fn proactor_affinity_mode_is_a_startup_setting() {
    for mode in ["on", "off", "auto"] {
        let s = damselfly::Server::builder()
            .bind("127.0.0.1")
            .port(0)
            .threads(2)
            .set("proactor_affinity_mode", mode)
            .start()
            .expect("server starts");
        let mut c = Client::connect(s.addr());
        assert_eq!(c.cmd(&["SET", "k", mode]), ok());
        assert_eq!(c.cmd(&["GET", "k"]), bulk(mode));
        assert_eq!(
            c.cmd(&["CONFIG", "GET", "proactor-affinity-mode"]),
            arr(vec![bulk("proactor-affinity-mode"), bulk(mode)])
        );
        let other = if mode == "off" { "on" } else { "off" };
        let Reply::Error(e) = c.cmd(&["CONFIG", "SET", "proactor-affinity-mode", other]) else {
            panic!("startup-only")
        };
        let e = String::from_utf8_lossy(&e);
        assert!(e.contains("can't set immutable config"), "{e}");
        // A client writing back what CONFIG GET shows (Redis's config sanity test) succeeds.
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "proactor-affinity-mode", mode]),
            ok()
        );
        let Reply::Array(tls) = c.cmd(&["CONFIG", "GET", "tls-auth-clients"]) else {
            panic!("CONFIG GET reply")
        };
        let Reply::Bulk(current) = &tls[1] else {
            panic!("value")
        };
        let current = String::from_utf8_lossy(current).to_string();
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "tls-auth-clients", &current]),
            ok()
        );
        s.shutdown();
    }
    let bad = damselfly::Server::builder()
        .port(0)
        .set("proactor_affinity_mode", "sometimes")
        .start();
    assert!(bad.is_err());
}
