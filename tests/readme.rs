//! The README's collector table is generated from the registry and the golden files; this test
//! fails when they drift apart (regenerate with the `collector_table` example).

#[test]
fn readme_collector_table_is_current() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let start = readme
        .find("<!-- collector-table:start -->\n")
        .expect("table start marker")
        + 31;
    let end = readme
        .find("<!-- collector-table:end -->")
        .expect("table end marker");
    let want = nodex_collectors::registry::markdown_table(&root.join("tests/golden"));
    assert!(
        readme[start..end] == want,
        "README collector table is stale; regenerate with:\n  cargo run -q -p nodex-collectors --example collector_table\n"
    );
}
