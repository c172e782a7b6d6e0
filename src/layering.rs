//! The import map of `lib.rs` holds: every `crate::…` path in `src/` points where `LAYERS`
//! allows. Comments and strings are skipped; `super::` never leaves a top-level module here.

use std::path::{Path, PathBuf};

use crate::{BENEATH_ALL, LAYERS};

/// The top-level module a file under `src/` belongs to (`src/chat/bots.rs` → `chat`).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_string())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).expect("src/ is readable");
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code without comments, string and char literals (each replaced by a space).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                out.push(' ');
            }
            b'r' if b.get(i + 1) == Some(&b'#') || b.get(i + 1) == Some(&b'"') => {
                // A raw string r"…" or r#"…"#, unless `r` ends an identifier.
                let ident_before = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                if ident_before || b.get(i + 1 + hashes) != Some(&b'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                i += 2 + hashes;
                while i < b.len() && !b[i..].starts_with(&close) {
                    i += 1;
                }
                i += close.len();
                out.push(' ');
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push(' ');
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{..}'), or a lifetime ('a), which stays.
                let end = if b.get(i + 1) == Some(&b'\\') {
                    b[i + 2..]
                        .iter()
                        .position(|&c| c == b'\'')
                        .map(|p| i + 2 + p)
                } else if b.get(i + 2) == Some(&b'\'') {
                    Some(i + 2)
                } else {
                    None
                };
                match end {
                    Some(end) => {
                        i = end + 1;
                        out.push(' ');
                    }
                    None => {
                        out.push('\'');
                        i += 1;
                    }
                }
            }
            c => {
                // Multi-byte UTF-8 is copied whole; only ASCII drives the scanner.
                let len = match c {
                    0x00..=0x7f => 1,
                    0xc0..=0xdf => 2,
                    0xe0..=0xef => 3,
                    _ => 4,
                };
                out.push_str(&text[i..(i + len).min(text.len())]);
                i += len;
            }
        }
    }
    out
}

/// The top-level modules named after each `crate::` in `code`, with `crate::{a, b::c}`
/// groups read item by item.
fn imported_modules(code: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let tail = rest.trim_start();
        if let Some(group) = tail.strip_prefix('{') {
            // Split the group at its top-level commas.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push(ident(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            found.push(ident(&item));
        } else {
            found.push(ident(tail));
        }
    }
    found.retain(|m| !m.is_empty() && m != "self");
    found
}

#[test]
fn every_import_follows_the_map_in_lib_rs() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let known: Vec<&str> = LAYERS.iter().map(|(m, _)| *m).collect();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for file in &files {
        let Some(module) = top_module(&src, file) else {
            continue;
        };
        // The crate root and the binary name modules, they do not import them.
        if matches!(module.as_str(), "lib" | "main" | "layering") {
            continue;
        }
        let Some((_, allowed)) = LAYERS.iter().find(|(m, _)| *m == module) else {
            wrong.push(format!(
                "{}: module `{module}` is not in LAYERS",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("a source file is readable");
        for used in imported_modules(&code_only(&text)) {
            checked += 1;
            if used != module && used != BENEATH_ALL && !allowed.contains(&used.as_str()) {
                let what = if known.contains(&used.as_str()) {
                    "against the map"
                } else {
                    "an unknown module"
                };
                wrong.push(format!(
                    "{}: `{module}` imports `crate::{used}` ({what})",
                    file.display()
                ));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} imports found: the scanner is broken"
    );
    assert!(
        wrong.is_empty(),
        "imports against lib.rs's map:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_scanner_reads_groups_paths_and_skips_comments_and_strings() {
    let code = code_only(
        r##"
        use crate::store::{accounts, Db};
        use crate::{http, telemetry::{self, SECURITY}};
        // use crate::server;
        /* crate::cli */
        let s = "crate::app"; let r = r#"crate::app"#; let c = '"';
        fn f<'a>() { crate::chat::bots::delete(); $crate::realtime::x; }
        pub(crate) fn g() {}
        "##,
    );
    assert_eq!(
        imported_modules(&code),
        ["store", "http", "telemetry", "chat", "realtime"]
    );
}

#[test]
fn every_module_in_lib_rs_is_in_the_map() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("lib.rs is readable");
    for line in lib.lines() {
        if let Some(name) = line.strip_prefix("pub mod ") {
            let name = name.trim_end_matches(';');
            assert!(
                LAYERS.iter().any(|(m, _)| *m == name),
                "`{name}` is missing from LAYERS"
            );
        }
    }
}
