//! COMMANDS.md lists exactly the commands the registry serves.

use damselfly_coordinator::registry::Registry;

const REGENERATE: &str = "cargo run --release -- --commands-md > COMMANDS.md";

#[test]
fn commands_md_matches_the_registry() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/COMMANDS.md");
    let want = Registry::get().markdown();
    let have = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {path} ({e}); generate it with `{REGENERATE}`"));
    if have != want {
        let first_diff = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| have.lines().count().min(want.lines().count()));
        panic!(
            "COMMANDS.md is stale (first difference at line {}): regenerate it with `{REGENERATE}`",
            first_diff + 1
        );
    }
}
