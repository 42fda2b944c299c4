//! Builds the seed corpus of the `parsers` target: for each parser, its index byte followed by
//! the content of up to two fixture files whose path contains one of its seed patterns (a
//! short generic input for parsers without fixtures), plus the seeds built in code
//! ([`nodex_fuzz::built_seeds`]). Run from `fuzz/`:
//! `cargo run --bin seed -- ../tests/fixtures corpus/parsers` (then `cargo fuzz cmin parsers`).

use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, out),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(fixtures), Some(corpus)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: seed <fixtures dir> <corpus dir>");
        std::process::exit(2);
    };
    let mut files = Vec::new();
    walk(Path::new(fixtures), &mut files);
    files.sort();
    if let Err(e) = std::fs::create_dir_all(corpus) {
        eprintln!("creating {corpus}: {e}");
        std::process::exit(1);
    }
    for (index, parser) in nodex_fuzz::PARSERS.iter().enumerate() {
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        for pattern in parser.seeds {
            let found = files
                .iter()
                .filter(|f| f.to_string_lossy().contains(pattern))
                .take(2);
            for file in found {
                match std::fs::read(file) {
                    Ok(bytes) if bytes.len() <= 64 * 1024 => inputs.push(bytes),
                    _ => {}
                }
            }
        }
        inputs.extend(nodex_fuzz::built_seeds(parser.name));
        if inputs.is_empty() {
            inputs.push(b"12 cpu0-1\x00max 4k\n".to_vec());
        }
        for (n, bytes) in inputs.iter().enumerate() {
            let mut data = vec![index as u8];
            data.extend_from_slice(bytes);
            let path = Path::new(corpus).join(format!("{}-{n}", parser.name));
            if let Err(e) = std::fs::write(&path, &data) {
                eprintln!("writing {}: {e}", path.display());
                std::process::exit(1);
            }
        }
        println!("{index:3} {:32} {} seed(s)", parser.name, inputs.len());
    }
}
