//! Command-line flags and the Redis-style config file, both feeding the typed config registry
//! (`damselfly_coordinator::config`), which also serves CONFIG GET/SET.

use damselfly_coordinator::config::{canonical, find, Kind, PARAMS};

/// What the command line asks for.
pub enum Invocation {
    Run(Vec<(String, String)>),
    Help,
    Version,
    CommandsMarkdown,
}

/// Parses `[config-file] [--flag value | --flag=value]...`. Flags use Redis's names or
/// Dragonfly's (underscores), e.g. `--port 6380 --proactor_threads 2 --dbnum 16`.
pub fn parse_args(args: &[String]) -> Result<Invocation, String> {
    let mut settings = Vec::new();
    let mut i = 0;
    if let Some(first) = args.first() {
        if !first.starts_with('-') {
            let text = std::fs::read_to_string(first)
                .map_err(|e| format!("cannot read config file {first}: {e}"))?;
            settings.extend(parse_config_file(&text)?);
            i = 1;
        }
    }
    while i < args.len() {
        let a = &args[i];
        let Some(flag) = a.strip_prefix("--") else {
            return Err(format!("unexpected argument '{a}'"));
        };
        match flag {
            "help" => return Ok(Invocation::Help),
            "version" => return Ok(Invocation::Version),
            "commands-md" | "commands_md" => return Ok(Invocation::CommandsMarkdown),
            "force_epoll" | "force-epoll" => {
                settings.push(("io-backend".into(), "epoll".into()));
                i += 1;
                continue;
            }
            _ => {}
        }
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            // A yes/no flag alone means yes (`--cache_mode`), as Dragonfly's flags do.
            None if find(flag).is_some_and(|p| p.kind == Kind::Bool)
                && args.get(i + 1).is_none_or(|v| v.starts_with("--")) =>
            {
                (flag.to_string(), "yes".to_string())
            }
            None => {
                let v = args
                    .get(i + 1)
                    .ok_or_else(|| format!("--{flag} needs a value"))?;
                i += 1;
                (flag.to_string(), v.clone())
            }
        };
        if find(&name).is_none() && name != "user" {
            return Err(format!("unknown flag --{name} (see --help)"));
        }
        let name = if name == "user" {
            name
        } else {
            canonical(&name)
        };
        settings.push((name, value));
        i += 1;
    }
    Ok(Invocation::Run(settings))
}

/// Redis config file syntax: `name value...` per line, `#` comments, quoted values.
pub fn parse_config_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let value = rest.trim().trim_matches('"').to_string();
        if find(name).is_none() && name != "user" {
            return Err(format!(
                "config file line {}: unknown directive '{name}'",
                n + 1
            ));
        }
        // `user` lines (ACL users) may repeat; each is kept.
        let name = if name == "user" {
            name.to_string()
        } else {
            canonical(name)
        };
        out.push((name, value));
    }
    Ok(out)
}

pub fn help_text() -> String {
    let mut s = String::from(
        "damselfly [config-file] [--flag value]...\n\n\
         A Redis-compatible in-memory store. Flags (Redis names; underscores work too):\n\n",
    );
    for p in PARAMS {
        s.push_str(&format!(
            "  --{:<28} {} (default: {:?})\n",
            p.name, p.help, p.default
        ));
    }
    s.push_str("  --force_epoll                  same as --io-backend epoll\n");
    s.push_str("  --commands-md                  print COMMANDS.md and exit\n");
    s.push_str("  --version, --help\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_in_both_spellings() {
        let Invocation::Run(s) = parse_args(&v(&[
            "--port",
            "7000",
            "--proactor_threads=2",
            "--dbnum",
            "4",
        ]))
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            s,
            vec![
                ("port".into(), "7000".into()),
                ("proactor-threads".into(), "2".into()),
                ("databases".into(), "4".into())
            ]
        );
        assert!(parse_args(&v(&["--nope", "1"])).is_err());
        assert!(parse_args(&v(&["--port"])).is_err());
    }

    #[test]
    fn a_yes_no_flag_alone_means_yes() {
        let run = |a: &[&str]| match parse_args(&v(a)).unwrap() {
            Invocation::Run(s) => s,
            _ => panic!(),
        };
        let yes = ("cache-mode".to_string(), "yes".to_string());
        assert_eq!(run(&["--cache_mode"]), vec![yes.clone()]);
        assert_eq!(
            run(&["--cache_mode", "--port", "1"]),
            vec![yes, ("port".into(), "1".into())]
        );
        assert_eq!(
            run(&["--cache_mode", "no"]),
            vec![("cache-mode".into(), "no".into())]
        );
        assert_eq!(
            run(&["--cache_mode=false"]),
            vec![("cache-mode".into(), "false".into())]
        );
    }

    #[test]
    fn config_file_lines() {
        let s = parse_config_file("# c\nport 7001\nmaxclients \"50\"\n\n").unwrap();
        assert_eq!(
            s,
            vec![
                ("port".into(), "7001".into()),
                ("maxclients".into(), "50".into())
            ]
        );
        assert!(parse_config_file("bogus 1").is_err());
    }
}
