//! The layer rule of docs/development.md, checked against the code: every `crate::…` path in `src/` goes
//! down a layer (never up, never sideways), `http` and `web` never name `sea_orm`, and at most five files
//! stand at the root of `src/`. The rule is read from the doc, so the doc and this check cannot drift.
//! Also: no public type name is declared twice in `src/`, so each name means one thing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The lines of the fenced block ```` ```name ```` of docs/development.md.
fn doc_block(name: &str) -> Vec<String> {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/development.md"))
        .expect("read docs/development.md");
    let fence = format!("```{name}\n");
    let start = doc
        .find(&fence)
        .unwrap_or_else(|| panic!("docs/development.md has no ```{name} block"))
        + fence.len();
    let end = start + doc[start..].find("```").expect("the block is closed");
    doc[start..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Each module's layer: 0 is the top.
fn layers() -> HashMap<String, usize> {
    let mut layer = HashMap::new();
    for (i, line) in doc_block("layers").iter().enumerate() {
        for module in line.split_whitespace() {
            assert!(
                layer.insert(module.to_owned(), i).is_none(),
                "{module} is listed twice in the layer rule"
            );
        }
    }
    layer
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file of `src/` belongs to: its folder, or its own name at the root.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("a component");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_owned()
}

/// The code of a line without its `//` comment (a `//` inside a string literal cuts it short, which
/// can only hide a path, never invent one).
fn code(line: &str) -> &str {
    line.find("//").map_or(line, |i| &line[..i])
}

/// The module names that `crate::` paths in `text` reach.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = code(line);
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let before = rest[..i].chars().last();
            rest = &rest[i + "crate::".len()..];
            // `labtrail_crate::x` or `$crate::x` are not this crate's paths.
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push((n + 1, name));
            }
        }
    }
    found
}

fn src() -> PathBuf {
    Path::new(ROOT).join("src")
}

#[test]
fn no_import_goes_up_or_sideways() {
    let layer = layers();
    let src = src();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for file in &files {
        let from = module_of(&src, file);
        if from == "lib" || from == "main" {
            continue;
        }
        let from_layer = *layer.get(&from).unwrap_or_else(|| {
            panic!(
                "src/{from} is in no layer of docs/development.md: add it to the ```layers block"
            )
        });
        let text = std::fs::read_to_string(file).expect("read a source file");
        for (line, to) in crate_paths(&text) {
            checked += 1;
            if to == from {
                continue;
            }
            let Some(&to_layer) = layer.get(&to) else {
                wrong.push(format!(
                    "{}:{line}: crate::{to} is in no layer",
                    file.display()
                ));
                continue;
            };
            if to_layer <= from_layer {
                wrong.push(format!(
                    "{}:{line}: {from} imports crate::{to}, which is {} it",
                    file.display(),
                    if to_layer == from_layer {
                        "beside"
                    } else {
                        "above"
                    }
                ));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} crate:: paths found: is the scan broken?"
    );
    assert!(
        wrong.is_empty(),
        "imports against the layer rule:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_edges_name_no_sea_orm() {
    let src = src();
    for folder in doc_block("layers-no-sea-orm") {
        let mut files = Vec::new();
        rust_files(&src.join(&folder), &mut files);
        assert!(!files.is_empty(), "src/{folder} has no Rust files");
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read a source file");
            for (n, line) in text.lines().enumerate() {
                assert!(
                    !code(line).contains("sea_orm"),
                    "{}:{}: src/{folder} names sea_orm; query through db or reads instead",
                    file.display(),
                    n + 1
                );
            }
        }
    }
}

#[test]
fn at_most_five_files_at_the_root_of_src() {
    let mut root: Vec<String> = std::fs::read_dir(src())
        .expect("read src")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            p.file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    root.sort();
    assert!(root.len() <= 5, "files at the root of src/: {root:?}");
}

/// The public type names (`pub struct|enum|type|trait NAME`) a file declares, with their line numbers.
fn public_types(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(n, line)| {
            let rest = code(line).trim_start().strip_prefix("pub ")?;
            let rest = ["struct ", "enum ", "type ", "trait "]
                .iter()
                .find_map(|kind| rest.strip_prefix(kind))?;
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then_some((n + 1, name))
        })
        .collect()
}

#[test]
fn no_public_type_name_is_declared_twice() {
    let src = src();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read a source file");
        for (line, name) in public_types(&text) {
            let at = format!(
                "{}:{line}",
                file.strip_prefix(&src).expect("under src").display()
            );
            seen.entry(name).or_default().push(at);
        }
    }
    assert!(
        seen.len() > 100,
        "only {} public types found: is the scan broken?",
        seen.len()
    );
    let mut twice: Vec<String> = seen
        .into_iter()
        .filter(|(_, at)| at.len() > 1)
        .map(|(name, at)| format!("{name}: {}", at.join(", ")))
        .collect();
    twice.sort();
    assert!(
        twice.is_empty(),
        "public type names declared more than once in src/ (rename one so each name means one thing):\n{}",
        twice.join("\n")
    );
}

#[test]
fn the_type_scan_reads_declarations() {
    let text = "pub struct A<'a> {\n    pub enum_b: u8,\n}\n// pub enum C\npub(crate) struct D;\n  pub trait E {}\npub type F = u8;\n";
    let found: Vec<String> = public_types(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(found, ["A", "E", "F"]);
}

/// The scan itself: a path in a comment is not an import, `$crate::` is not this crate's.
#[test]
fn the_scan_reads_paths_not_comments() {
    let text = "use crate::db::x; // crate::cli\nlet y = crate::audit::z(); $crate::web\n";
    let found: Vec<String> = crate_paths(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(found, ["db", "audit"]);
}
