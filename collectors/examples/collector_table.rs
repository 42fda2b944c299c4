//! Prints the README's collector table from the registry and the golden files:
//! `cargo run -q -p nodex-collectors --example collector_table`. The README test checks that the
//! README holds exactly this table.

fn main() {
    print!(
        "{}",
        nodex_collectors::registry::markdown_table(&golden_dir())
    );
}

fn golden_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden")
}
