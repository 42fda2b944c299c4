//! The collectors crate's module graph has no cycle (issue 16).
//!
//! Nodes are the source files of `collectors/src`; there is an edge from file A to file B when
//! A names an item of B by a path (`use crate::x::y`, `crate::x::f()`, `super::`, `self::`, or
//! through a name A imported, such as `use crate::{container, host}` then
//! `container::cpu::INFO`). `mod` declarations are not edges, and a path to an item a module
//! re-exports (`crate::Options`, from `lib.rs`'s `pub use options::Options`) leads to the file
//! defining it. Comments are ignored; test modules count (they are compiled into the crate too).
//! A cycle is a strongly connected component of more than one file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// One source file: its module path and the paths it names.
struct File {
    module: Module,
    /// Names it imports with `use`, to the absolute path they stand for.
    imports: BTreeMap<String, Module>,
    /// Absolute paths named anywhere in it.
    paths: Vec<Module>,
}

fn crate_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("collectors/src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `lib.rs` is the crate root, `a/mod.rs` is `a`, `a/b.rs` is `a::b`.
fn module_of(relative: &Path) -> Module {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The text with `//` comments (and so doc comments) removed, string contents kept.
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| {
            let mut in_string = false;
            let bytes = line.as_bytes();
            for i in 0..bytes.len() {
                match bytes[i] {
                    b'"' if i == 0 || bytes[i - 1] != b'\\' => in_string = !in_string,
                    b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
                    _ => {}
                }
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A tiny reader of Rust paths: `a::b::{c, d::e as f, self}`.
struct Reader<'a> {
    s: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn skip_space(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn ident(&mut self) -> Option<String> {
        self.skip_space();
        let start = self.at;
        while self.at < self.s.len() && is_ident_byte(self.s[self.at]) {
            self.at += 1;
        }
        (self.at > start).then(|| String::from_utf8_lossy(&self.s[start..self.at]).into_owned())
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.s[self.at..].starts_with(token.as_bytes()) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    /// Reads a use tree after `prefix`, pushing every (path, name bound) it contains.
    fn tree(&mut self, prefix: &[String], out: &mut Vec<(Module, Option<String>)>) {
        let mut path = prefix.to_vec();
        loop {
            if self.eat("{") {
                loop {
                    self.tree(&path, out);
                    if !self.eat(",") || self.eat("}") {
                        self.eat("}");
                        return;
                    }
                }
            }
            if self.eat("*") {
                out.push((path, None));
                return;
            }
            let Some(segment) = self.ident() else {
                out.push((path, None));
                return;
            };
            if segment == "self" && !path.is_empty() {
                let name = path.last().cloned();
                out.push((path, name));
                return;
            }
            path.push(segment);
            if !self.eat("::") {
                let name = if self.eat("as ") {
                    self.ident()
                } else {
                    path.last().cloned()
                };
                out.push((path, name));
                return;
            }
        }
    }
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// A reader just after each whole-word `keyword` of `text`, with the keyword's offset.
fn after_keyword<'a>(text: &'a str, keyword: &'a str) -> impl Iterator<Item = (usize, Reader<'a>)> {
    let s = text.as_bytes();
    text.match_indices(keyword)
        .filter(move |(at, _)| *at == 0 || !is_ident_byte(s[at - 1]))
        .map(move |(at, _)| {
            (
                at,
                Reader {
                    s,
                    at: at + keyword.len(),
                },
            )
        })
}

/// The byte ranges of the inline modules (`mod tests { ... }`) of a file's text.
fn inline_modules(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut ranges = Vec::new();
    for (_, mut r) in after_keyword(text, "mod ") {
        if r.ident().is_none() || !r.eat("{") {
            continue;
        }
        let (start, mut depth, mut i) = (r.at, 1, r.at);
        while i < bytes.len() && depth > 0 {
            match bytes[i] {
                b'"' => {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                }
                b'\'' if bytes.get(i + 2) == Some(&b'\'') => i += 2,
                b'{' => depth += 1,
                b'}' => depth -= 1,
                _ => {}
            }
            i += 1;
        }
        ranges.push((start, i));
    }
    ranges
}

/// Makes a path absolute: `crate::`, `super::` and `self::` resolved from `module`, where the
/// path sits `inline` inline modules deep (a `super::` there first leaves those, staying in
/// the file).
fn absolute(module: &Module, inline: usize, path: &[String]) -> Option<Module> {
    let mut base: Module = module.clone();
    let mut rest = path;
    let mut inline = inline;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                if inline > 0 {
                    inline -= 1;
                } else {
                    base.pop()?;
                }
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

fn parse_file(src: &Path, path: &Path) -> File {
    let module = module_of(path.strip_prefix(src).expect("below src"));
    let text = strip_comments(&std::fs::read_to_string(path).expect("read source"));
    let bytes = text.as_bytes();
    let mut imports = BTreeMap::new();
    let mut relative = Vec::new();
    let inline = inline_modules(&text);
    let depth = |at: usize| {
        inline
            .iter()
            .filter(|(a, b)| (*a..*b).contains(&at))
            .count()
    };
    // `use` trees, each read from just after `use `.
    for (at, mut r) in after_keyword(&text, "use ") {
        let mut found = Vec::new();
        r.tree(&[], &mut found);
        for (p, name) in found {
            if let (Some(name), Some(abs)) = (name, absolute(&module, depth(at), &p)) {
                imports.insert(name, abs);
            }
            relative.push((depth(at), p));
        }
    }
    // Every other `a::b::c` path.
    let mut at = 0;
    while at < bytes.len() {
        let starts_ident = (bytes[at].is_ascii_alphabetic() || bytes[at] == b'_')
            && (at == 0 || !is_ident_byte(bytes[at - 1]));
        if !starts_ident {
            at += 1;
            continue;
        }
        let mut r = Reader { s: bytes, at };
        let mut p = Vec::new();
        while let Some(segment) = r.ident() {
            p.push(segment);
            if !r.eat("::") {
                break;
            }
        }
        at = r.at.max(at + 1);
        if p.len() > 1 {
            relative.push((depth(at), p));
        }
    }
    let paths = relative
        .into_iter()
        .filter_map(|(inline, p)| {
            absolute(&module, inline, &p).or_else(|| {
                let head = imports.get(p.first()?)?;
                Some(head.iter().chain(&p[1..]).cloned().collect())
            })
        })
        .collect();
    File {
        module,
        imports,
        paths,
    }
}

/// The file an absolute path leads to: the longest module prefix, followed through re-exports.
fn target(files: &BTreeMap<Module, File>, path: &[String], depth: usize) -> Option<Module> {
    let len = (0..=path.len())
        .rev()
        .find(|&n| files.contains_key(&path[..n]))?;
    let module = path[..len].to_vec();
    if depth < 8 {
        if let Some(next) = path.get(len) {
            if let Some(reexport) = files[&module].imports.get(next) {
                let full: Module = reexport.iter().chain(&path[len + 1..]).cloned().collect();
                if full != path {
                    return target(files, &full, depth + 1).or(Some(module));
                }
            }
        }
    }
    Some(module)
}

/// The file-level dependency graph of the collectors crate.
fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = crate_src();
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: BTreeMap<Module, File> = paths
        .iter()
        .map(|p| {
            let f = parse_file(&src, p);
            (f.module.clone(), f)
        })
        .collect();
    files
        .values()
        .map(|f| {
            let edges = f
                .paths
                .iter()
                .filter_map(|p| target(&files, p, 0))
                .filter(|t| *t != f.module)
                .collect();
            (f.module.clone(), edges)
        })
        .collect()
}

/// Tarjan's strongly connected components, keeping those of more than one node.
fn cycles(g: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        g: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, (usize, usize)>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        out: Vec<Vec<Module>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Module) {
        let n = s.index.len();
        s.index.insert(v, (n, n));
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in &s.g[v] {
            let Some((w, _)) = s.g.get_key_value(w) else {
                continue;
            };
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.index[w].1.min(s.index[v].1);
                s.index.get_mut(v).expect("visited").1 = low;
            } else if s.on_stack.contains(w) {
                let low = s.index[w].0.min(s.index[v].1);
                s.index.get_mut(v).expect("visited").1 = low;
            }
        }
        if s.index[v].0 == s.index[v].1 {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        g,
        index: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn show(m: &Module) -> String {
    if m.is_empty() {
        "crate".to_string()
    } else {
        m.join("::")
    }
}

#[test]
fn collectors_module_graph_has_no_cycle() {
    let g = graph();
    let found = cycles(&g);
    let report: Vec<String> = found
        .iter()
        .map(|c| {
            let names: Vec<String> = c.iter().map(show).collect();
            format!("{} files: {}", c.len(), names.join(", "))
        })
        .collect();
    assert!(
        found.is_empty(),
        "{} cycle(s) in the collectors module graph:\n{}",
        found.len(),
        report.join("\n")
    );
}

/// The graph builder sees the edges that matter: if it missed them, "no cycle" would prove
/// nothing.
#[test]
fn graph_sees_known_edges() {
    let g = graph();
    let m = |s: &str| -> Module { s.split("::").map(str::to_string).collect() };
    let edges = |from: &str| {
        g.get(&m(from))
            .unwrap_or_else(|| panic!("no module {from}"))
    };
    // `use crate::{container, host}` then `host::vmstat::INFO`.
    assert!(edges("registry").contains(&m("host::vmstat")));
    // `use super::{container_group, ...}` in a container group.
    assert!(edges("container::cpu").contains(&m("container")));
    // `crate::Options` is re-exported by lib.rs: the edge goes to options.rs.
    assert!(edges("testing").contains(&m("options")));
    // A synthetic cycle is found.
    let mut cyclic = g.clone();
    cyclic
        .get_mut(&m("options"))
        .expect("options module")
        .insert(m("registry"));
    assert!(!cycles(&cyclic).is_empty());
}
