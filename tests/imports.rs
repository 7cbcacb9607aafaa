//! No import cycles, in the Rust crate (src/) and in the Python models pipeline (models/): no
//! module imports one that imports it back, directly or through others, at the granularity of
//! files. On failure the message lists each cycle's files and the edges between them
//! (`file -> file: the names it imports`), so a developer can see what to move.
//!
//! Rust (each crate on its own: the library from src/lib.rs, each binary under src/bin/):
//! - a file's module path: src/lib.rs is the crate root, src/a.rs and src/a/mod.rs are `a`,
//!   src/a/b.rs is `a::b` (the same for a binary, from its main.rs's folder);
//! - file A imports file B when A names a path that resolves into B: `use crate::...`,
//!   `use super::...` and `use self::...` (grouped `use crate::{a::X, b::{Y, Z}}` over any
//!   number of lines included), and `crate::`, `super::` and `self::` paths anywhere in code
//!   (comments and string literals are skipped). `super` and `self` count from the module they
//!   are written in, inline `mod tests { ... }` blocks included. B is the longest prefix of the
//!   path that is a module file: `crate::medical::dicom::read` is src/medical/dicom.rs;
//! - re-exports are followed: when the name after that prefix is one B's top-level `use`
//!   brings in (`pub use volume::Affine;`, `pub(crate) use self::a::{b::X, Y}`, an alias
//!   `pub use dicom::seg as dicom_seg;`, or a private `use` a child reaches through `super::`),
//!   the path goes on from what that `use` names, and so on (8 times at most):
//!   `crate::medical::Affine` is src/medical/volume.rs, where it is defined. A glob
//!   `pub use child::*`, when it is B's only one, gives it every name B does not declare;
//! - paths from another crate (`daftseg::` in a binary, std, tract...) and bare paths (a child
//!   module's name, a name brought in by an earlier `use`) are not followed: a binary cannot be
//!   imported back by the library, and a bare path starts at a child module, an item of the
//!   file itself or a name an earlier `use` (which is counted) brought in (in a re-export, one
//!   that starts at a child module is followed there);
//! - a module's imports of its own descendants do not count: a parent declares its children
//!   (`mod x;`) and re-exports their items, which is its structure, not a dependency. Imports
//!   the other way do: a child using an item its parent's file defines depends on that file.
//!   So a parent and its child alone never form a cycle, but child -> parent -> other -> child
//!   does.
//!
//! Python (models/, every .py below it but dot folders and __pycache__): `from .x import a`,
//! `from models.x import a`, `from . import x`, `from .. import x`, `import models.x`, at any
//! indentation (imports inside functions count: they run). `from P import n` goes to P.n when
//! that is a module, else to P. Dynamic imports (importlib.import_module with a computed name,
//! as models/__main__.py dispatches the steps) are not followed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// from file -> to file -> the names `from` imports from `to`.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn repo_root() -> PathBuf {
    PathBuf::from(option_env!("CARGO_MANIFEST_DIR").unwrap_or("."))
}

/// Every file under `dir` whose name ends with `ext`, as paths relative to `root` with '/',
/// sorted; folders starting with '.' and __pycache__ are skipped.
fn files_under(root: &Path, dir: &str, ext: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut pending = vec![root.join(dir)];
    while let Some(folder) = pending.pop() {
        let entries = fs::read_dir(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && name != "__pycache__" {
                    pending.push(path);
                }
            } else if name.ends_with(ext) {
                let relative = path.strip_prefix(root).unwrap();
                let relative = relative.to_string_lossy().replace('\\', "/");
                let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{relative}: {e}"));
                found.push((relative, text));
            }
        }
    }
    found.sort();
    found
}

fn add_edge(graph: &mut Graph, from: &str, to: &str, name: String) {
    graph
        .entry(from.to_string())
        .or_default()
        .entry(to.to_string())
        .or_default()
        .insert(name);
}

// ---- Rust ----

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Sep,
    Punct(char),
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Skips a string literal whose opening quote is at `i`: returns the index after its end.
fn skip_quoted(chars: &[char], mut i: usize) -> usize {
    i += 1;
    while i < chars.len() && chars[i] != '"' {
        i += if chars[i] == '\\' { 2 } else { 1 };
    }
    i + 1
}

/// Skips a raw string `#*"..."#*` whose first '#' or '"' is at `i`, if there is one there.
fn skip_raw(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    while j < chars.len() && chars[j] == '#' {
        j += 1;
    }
    if chars.get(j) != Some(&'"') {
        return None;
    }
    let hashes = j - i;
    j += 1;
    while j < chars.len() {
        if chars[j] == '"'
            && chars[j + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == '#')
                .count()
                == hashes
        {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(j)
}

/// The tokens of Rust source with comments, string, char and number literals and lifetimes
/// left out: identifiers, `::` and single punctuation characters.
fn rust_tokens(source: &str) -> Vec<Tok> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' {
            i = skip_quoted(&chars, i);
        } else if c == '\'' {
            if next == Some('\\') {
                // An escaped char literal: '\n', '\'', '\u{..}'.
                i += 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3; // 'x'
            } else {
                // A lifetime or a label: the quote and the name.
                i += 1;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
            }
        } else if c.is_ascii_digit() {
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
        } else if is_ident_start(c) {
            let start = i;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let prefix = matches!(word.as_str(), "b" | "c" | "r" | "br" | "cr");
            let raw = matches!(word.as_str(), "r" | "br" | "cr");
            if prefix && chars.get(i) == Some(&'"') {
                i = if raw {
                    skip_raw(&chars, i).unwrap()
                } else {
                    skip_quoted(&chars, i)
                };
            } else if raw && chars.get(i) == Some(&'#') {
                match skip_raw(&chars, i) {
                    Some(end) => i = end,
                    None => i += 1, // r#ident: the identifier follows
                }
            } else if word == "b" && chars.get(i) == Some(&'\'') {
                i += if chars.get(i + 1) == Some(&'\\') {
                    4
                } else {
                    3
                };
                while i < chars.len() && chars[i - 1] != '\'' {
                    i += 1;
                }
            } else {
                tokens.push(Tok::Ident(word));
            }
        } else if c == ':' && next == Some(':') {
            tokens.push(Tok::Sep);
            i += 2;
        } else {
            tokens.push(Tok::Punct(c));
            i += 1;
        }
    }
    tokens
}

fn ident(tokens: &[Tok], i: usize) -> Option<&str> {
    match tokens.get(i) {
        Some(Tok::Ident(word)) => Some(word),
        _ => None,
    }
}

/// A path a `use` names and the name it brings in (the alias after `as`, `*` for a glob).
type Used = (Vec<String>, String);

/// Parses the use tree starting at `i` under `prefix`; every path it names goes to `out`.
/// Returns the index of the token after the tree.
fn use_tree(tokens: &[Tok], mut i: usize, prefix: &[String], out: &mut Vec<Used>) -> usize {
    let mut path = prefix.to_vec();
    if tokens.get(i) == Some(&Tok::Sep) {
        path.push("::".to_string()); // ::extern_crate
        i += 1;
    }
    loop {
        match tokens.get(i) {
            Some(Tok::Ident(word)) => {
                path.push(word.clone());
                i += 1;
                if tokens.get(i) == Some(&Tok::Sep) {
                    i += 1;
                    continue;
                }
                let mut name = match word.as_str() {
                    "self" if path.len() > 1 => path[path.len() - 2].clone(),
                    _ => word.clone(),
                };
                if ident(tokens, i) == Some("as") {
                    name = ident(tokens, i + 1).unwrap_or("_").to_string();
                    i += 2;
                }
                out.push((path, name));
                return i;
            }
            Some(Tok::Punct('*')) => {
                path.push("*".to_string());
                out.push((path, "*".to_string()));
                return i + 1;
            }
            Some(Tok::Punct('{')) => {
                i += 1;
                while i < tokens.len() && tokens[i] != Tok::Punct('}') {
                    i = use_tree(tokens, i, &path, out);
                    if tokens.get(i) == Some(&Tok::Punct(',')) {
                        i += 1;
                    }
                }
                return i + 1;
            }
            _ => return i,
        }
    }
}

/// Every path a Rust file names that starts with `crate`, `super` or `self` (in `use`
/// declarations, expanded, and anywhere in code), each with the module it is written in (the
/// file's module, or an inline `mod name { ... }` within it, as names relative to the file).
fn rust_paths(source: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let tokens = rust_tokens(source);
    let mut found = Vec::new();
    let mut inline: Vec<(String, usize)> = Vec::new(); // (name, brace depth inside it)
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let here = || {
            inline
                .iter()
                .map(|(name, _)| name.clone())
                .collect::<Vec<_>>()
        };
        match &tokens[i] {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                if inline.last().is_some_and(|&(_, d)| d == depth) {
                    inline.pop();
                }
                depth -= 1;
            }
            Tok::Ident(word) if word == "mod" => {
                if let (Some(name), Some(Tok::Punct('{'))) =
                    (ident(&tokens, i + 1), tokens.get(i + 2))
                {
                    inline.push((name.to_string(), depth + 1));
                    depth += 1;
                    i += 3;
                    continue;
                }
            }
            Tok::Ident(word) if word == "use" => {
                let mut paths = Vec::new();
                let end = use_tree(&tokens, i + 1, &[], &mut paths);
                let module = here();
                found.extend(paths.into_iter().map(|(p, _)| (p, module.clone())));
                i = end;
                continue;
            }
            Tok::Ident(word)
                if matches!(word.as_str(), "crate" | "super" | "self")
                    && tokens.get(i + 1) == Some(&Tok::Sep)
                    && tokens.get(i.wrapping_sub(1)) != Some(&Tok::Sep) =>
            {
                // `pub(in crate::a)` is a visibility, not an import.
                let visibility = i >= 2
                    && ident(&tokens, i - 1) == Some("in")
                    && tokens[i - 2] == Tok::Punct('(');
                let mut path = vec![word.clone()];
                let mut j = i + 1;
                while tokens.get(j) == Some(&Tok::Sep) {
                    match ident(&tokens, j + 1) {
                        Some(next) => path.push(next.to_string()),
                        None => break,
                    }
                    j += 2;
                }
                if !visibility {
                    found.push((path, here()));
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// The module path of a crate's file (`dir` is the folder of its root file `root`).
fn rust_module(path: &str, dir: &str, root: &str) -> Vec<String> {
    if path == root {
        return Vec::new();
    }
    let inside = path
        .strip_prefix(dir)
        .unwrap()
        .trim_start_matches('/')
        .trim_end_matches(".rs");
    let mut module: Vec<String> = inside.split('/').map(str::to_string).collect();
    if module.last().map(String::as_str) == Some("mod") {
        module.pop();
    }
    module
}

/// A path written in module `here` made absolute (a crate's module path, `::` and `self`
/// segments left out): `crate::`, `self::` and `super::` ones, and bare ones that start at a
/// child module of `here`; None for another crate's, or an item's, path.
fn absolute_path(
    path: &[String],
    here: &[String],
    modules: &BTreeMap<Vec<String>, &str>,
) -> Option<Vec<String>> {
    let supers = path.iter().take_while(|s| *s == "super").count();
    let child = [here, &path[..1]].concat();
    let absolute: Vec<String> = match path[0].as_str() {
        "crate" => path[1..].to_vec(),
        "self" => here.iter().chain(&path[1..]).cloned().collect(),
        "super" if supers <= here.len() => here[..here.len() - supers]
            .iter()
            .chain(&path[supers..])
            .cloned()
            .collect(),
        "super" => return None,
        _ if modules.contains_key(&child) => here.iter().chain(path).cloned().collect(),
        _ => return None,
    };
    Some(absolute.into_iter().filter(|s| s != "self").collect())
}

/// What a file's top-level `use` declarations bring in, as absolute paths: its re-exports and
/// the private imports its children may name through `super::`.
#[derive(Default)]
struct Uses {
    /// name (an alias if there is one) -> the path it stands for.
    named: BTreeMap<String, Vec<String>>,
    /// The modules of its glob re-exports of its own descendants (`pub use child::*`).
    globs: Vec<Vec<String>>,
    /// The names it declares (`fn`, `struct`, ... at any depth): a glob does not supply them.
    defined: BTreeSet<String>,
}

/// The [`Uses`] of the file of module `own`.
fn rust_uses(source: &str, own: &[String], modules: &BTreeMap<Vec<String>, &str>) -> Uses {
    const ITEMS: [&str; 9] = [
        "fn", "struct", "enum", "union", "trait", "type", "const", "static", "mod",
    ];
    let tokens = rust_tokens(source);
    let mut uses = Uses::default();
    let mut depth = 0;
    for (i, token) in tokens.iter().enumerate() {
        let Tok::Ident(word) = token else {
            depth += match token {
                Tok::Punct('{') => 1,
                Tok::Punct('}') => -1,
                _ => 0,
            };
            continue;
        };
        if ITEMS.contains(&word.as_str()) {
            uses.defined
                .extend(ident(&tokens, i + 1).map(str::to_string));
        }
        if word != "use" || depth != 0 {
            continue;
        }
        let public =
            i > 0 && (ident(&tokens, i - 1) == Some("pub") || tokens[i - 1] == Tok::Punct(')'));
        let mut paths = Vec::new();
        use_tree(&tokens, i + 1, &[], &mut paths);
        for (path, name) in paths {
            match absolute_path(&path, own, modules) {
                Some(mut absolute) if name == "*" && public && absolute.starts_with(own) => {
                    absolute.pop();
                    uses.globs.push(absolute);
                }
                Some(absolute) if name != "*" => {
                    uses.named.insert(name, absolute);
                }
                _ => {}
            }
        }
    }
    uses
}

/// The module file an absolute path resolves into (the longest prefix of it that is one) and
/// the rest of the path, the first name of the rest followed through that file's `use`s
/// (re-exports) to the module that defines it, for at most 8 hops.
fn resolve(
    mut path: Vec<String>,
    modules: &BTreeMap<Vec<String>, &str>,
    uses: &BTreeMap<Vec<String>, Uses>,
) -> Option<(Vec<String>, Vec<String>)> {
    let mut hops = 0;
    loop {
        let length = (0..=path.len())
            .rev()
            .find(|&k| modules.contains_key(&path[..k]))?;
        let file = &uses[&path[..length]];
        let next = path
            .get(length)
            .and_then(|name| match file.named.get(name) {
                Some(to) => Some(to.clone()),
                None if name != "*" && file.globs.len() == 1 && !file.defined.contains(name) => {
                    Some([&file.globs[0][..], &path[length..=length]].concat())
                }
                None => None,
            });
        match next {
            Some(to) if hops < 8 => path = [&to[..], &path[length + 1..]].concat(),
            _ => {
                let rest = path.split_off(length);
                return Some((path, rest));
            }
        }
        hops += 1;
    }
}

/// The import graph of one crate. `files` are (path, source); `root` is the crate root's path
/// (src/lib.rs, src/bin/x/main.rs); every file in root's folder and below is a module of it
/// but those under `skip` (the binaries, for the library).
fn rust_graph(files: &[(String, String)], root: &str, skip: Option<&str>) -> Graph {
    let dir = root.rsplit_once('/').map_or("", |(dir, _)| dir);
    let crate_files: Vec<&(String, String)> = files
        .iter()
        .filter(|(path, _)| path.starts_with(dir) && path.ends_with(".rs"))
        .filter(|(path, _)| skip.is_none_or(|skip| !path.starts_with(skip)))
        .collect();
    let modules: BTreeMap<Vec<String>, &str> = crate_files
        .iter()
        .map(|(path, _)| (rust_module(path, dir, root), path.as_str()))
        .collect();
    let uses: BTreeMap<Vec<String>, Uses> = crate_files
        .iter()
        .map(|(path, source)| {
            let own = rust_module(path, dir, root);
            let file_uses = rust_uses(source, &own, &modules);
            (own, file_uses)
        })
        .collect();
    let mut graph = Graph::new();
    for (path, source) in crate_files {
        graph.entry(path.clone()).or_default();
        let own = rust_module(path, dir, root);
        for (named, inline) in rust_paths(source) {
            let here: Vec<String> = own.iter().chain(&inline).cloned().collect();
            let Some(absolute) = absolute_path(&named, &here, &modules) else {
                continue; // another crate, or a bare path
            };
            let Some((target, rest)) = resolve(absolute, &modules, &uses) else {
                continue;
            };
            if target.starts_with(&own) {
                continue; // the file itself, or one of its descendants
            }
            let name = match &rest[..] {
                [] => target
                    .last()
                    .cloned()
                    .unwrap_or_else(|| "crate".to_string()),
                rest => rest.join("::"),
            };
            add_edge(&mut graph, path, modules[&target], name);
        }
    }
    graph
}

// ---- Python ----

/// The statements of Python source, one string each, with comments and string literals left
/// out (a string becomes `""`) and bracketed or continued lines joined.
fn python_statements(source: &str) -> Vec<String> {
    let chars: Vec<char> = source.chars().collect();
    let mut statements = Vec::new();
    let mut line = String::new();
    let mut brackets = 0i32;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '"' | '\'' => {
                let triple = chars.get(i + 1) == Some(&c) && chars.get(i + 2) == Some(&c);
                i += if triple { 3 } else { 1 };
                while i < chars.len() {
                    if chars[i] == '\\' {
                        i += 2;
                    } else if chars[i] == c
                        && (!triple
                            || (chars.get(i + 1) == Some(&c) && chars.get(i + 2) == Some(&c)))
                    {
                        i += if triple { 3 } else { 1 };
                        break;
                    } else if chars[i] == '\n' && !triple {
                        break;
                    } else {
                        i += 1;
                    }
                }
                line.push_str("\"\"");
                continue;
            }
            '\\' if chars.get(i + 1) == Some(&'\n') => {
                line.push(' ');
                i += 2;
                continue;
            }
            '(' | '[' | '{' => brackets += 1,
            ')' | ']' | '}' => brackets -= 1,
            _ => {}
        }
        if (c == '\n' || c == ';') && brackets <= 0 {
            statements.push(std::mem::take(&mut line).trim().to_string());
        } else {
            line.push(if c == '\n' { ' ' } else { c });
        }
        i += 1;
    }
    statements.push(line.trim().to_string());
    statements.retain(|s| !s.is_empty());
    statements
}

/// models/a/b.py -> models.a.b; models/a/__init__.py -> models.a.
fn python_module(path: &str) -> String {
    let dotted = path.trim_end_matches(".py").replace('/', ".");
    dotted
        .strip_suffix(".__init__")
        .map_or(dotted.clone(), str::to_string)
}

/// The import graph of Python files (path, source), paths relative to the folder that holds
/// the top package (models/x.py is the module models.x).
fn python_graph(files: &[(String, String)]) -> Graph {
    let modules: BTreeMap<String, &str> = files
        .iter()
        .map(|(path, _)| (python_module(path), path.as_str()))
        .collect();
    let mut graph = Graph::new();
    for (path, source) in files {
        graph.entry(path.clone()).or_default();
        let own = python_module(path);
        let package = if path.ends_with("/__init__.py") {
            own.clone()
        } else {
            own.rsplit_once('.')
                .map_or(String::new(), |(p, _)| p.to_string())
        };
        let mut edge = |target: &str, name: &str| {
            if let Some(&to) = modules.get(target) {
                if target != own {
                    add_edge(&mut graph, path, to, name.to_string());
                }
            }
        };
        for statement in python_statements(source) {
            if let Some(rest) = statement.strip_prefix("from ") {
                let Some((from, names)) = rest.split_once(" import ") else {
                    continue;
                };
                let from = from.trim();
                let dots = from.chars().take_while(|&c| c == '.').count();
                let base = if dots == 0 {
                    from.to_string()
                } else {
                    let parts: Vec<&str> = package.split('.').collect();
                    let Some(kept) = parts.len().checked_sub(dots - 1) else {
                        continue;
                    };
                    let mut base = parts[..kept].join(".");
                    if from.len() > dots {
                        base = format!("{base}.{}", &from[dots..]);
                    }
                    base
                };
                let names = names.trim().trim_start_matches('(').trim_end_matches(')');
                for name in names.split(',').filter_map(|n| n.split_whitespace().next()) {
                    let submodule = format!("{base}.{name}");
                    if modules.contains_key(&submodule) {
                        edge(&submodule, name);
                    } else {
                        edge(&base, name);
                    }
                }
            } else if let Some(rest) = statement.strip_prefix("import ") {
                for name in rest.split(',').filter_map(|n| n.split_whitespace().next()) {
                    let parts: Vec<&str> = name.split('.').collect();
                    if let Some(k) = (1..=parts.len())
                        .rev()
                        .find(|&k| modules.contains_key(&parts[..k].join(".")))
                    {
                        edge(&parts[..k].join("."), parts[k - 1]);
                    }
                }
            }
        }
    }
    graph
}

// ---- cycles ----

/// The strongly connected components of more than one file (Tarjan), each sorted, in order of
/// their first file.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        components: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, node: &'a str) {
        let n = s.index.len();
        s.index.insert(node, n);
        s.low.insert(node, n);
        s.stack.push(node);
        s.on_stack.insert(node);
        let graph = s.graph;
        let targets = graph.get(node).into_iter().flat_map(|t| t.keys());
        for target in targets {
            let target = target.as_str();
            if !s.index.contains_key(target) {
                visit(s, target);
                let low = s.low[node].min(s.low[target]);
                s.low.insert(node, low);
            } else if s.on_stack.contains(target) {
                let low = s.low[node].min(s.index[target]);
                s.low.insert(node, low);
            }
        }
        if s.low[node] == s.index[node] {
            let mut component = Vec::new();
            loop {
                let member = s.stack.pop().unwrap();
                s.on_stack.remove(member);
                component.push(member.to_string());
                if member == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.components.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    state.components.sort();
    state.components
}

/// Each cycle's files and the edges between them, for the failure message.
fn describe(graph: &Graph, found: &[Vec<String>]) -> String {
    let mut text = String::new();
    for (number, component) in found.iter().enumerate() {
        text += &format!("cycle {}: {}\n", number + 1, component.join(", "));
        for from in component {
            for (to, names) in &graph[from] {
                if component.contains(to) {
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    text += &format!("    {from} -> {to}: {}\n", names.join(", "));
                }
            }
        }
    }
    text
}

fn assert_no_cycles(what: &str, graph: &Graph) {
    let found = cycles(graph);
    assert!(
        found.is_empty(),
        "{} import cycle(s) in {what} (no module may import one that imports it back; the rules are \
         in tests/imports.rs):\n{}",
        found.len(),
        describe(graph, &found)
    );
}

fn edge_count(graph: &Graph) -> usize {
    graph.values().map(BTreeMap::len).sum()
}

#[test]
fn src_has_no_import_cycles() {
    let root = repo_root();
    let files = files_under(&root, "src", ".rs");
    assert!(
        files.iter().any(|(path, _)| path == "src/lib.rs"),
        "src/lib.rs not found under {}",
        root.display()
    );
    let mut crates = vec![("src/lib.rs".to_string(), Some("src/bin/"))];
    for (path, _) in &files {
        let Some(rest) = path.strip_prefix("src/bin/") else {
            continue;
        };
        // A binary of one file (src/bin/x.rs) cannot hold a cycle; one with modules is a folder.
        if rest.ends_with("/main.rs") && rest.matches('/').count() == 1 {
            crates.push((path.clone(), None));
        }
    }
    for (crate_root, skip) in crates {
        let graph = rust_graph(&files, &crate_root, skip);
        if crate_root == "src/lib.rs" {
            // A scanner that finds nothing would pass: the library has dozens of modules.
            assert!(
                graph.len() > 20 && edge_count(&graph) > 20,
                "src/: {} files, {} imports",
                graph.len(),
                edge_count(&graph)
            );
        }
        assert_no_cycles(&format!("the crate of {crate_root}"), &graph);
    }
}

#[test]
fn models_has_no_import_cycles() {
    let root = repo_root();
    let files = files_under(&root, "models", ".py");
    let graph = python_graph(&files);
    assert!(
        graph.len() > 20 && edge_count(&graph) > 20,
        "models/: {} files, {} imports",
        graph.len(),
        edge_count(&graph)
    );
    assert_no_cycles("models/", &graph);
}

// ---- the scanners on small examples ----

fn sources(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(p, s)| (p.to_string(), s.to_string()))
        .collect()
}

/// The graph as "from -> to: names" lines.
fn edges(graph: &Graph) -> Vec<String> {
    let mut lines = Vec::new();
    for (from, targets) in graph {
        for (to, names) in targets {
            lines.push(format!(
                "{from} -> {to}: {}",
                names.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    lines
}

#[test]
fn rust_grouped_multiline_use_reaches_every_module() {
    let files = sources(&[
        ("src/lib.rs", "pub mod a;\npub mod b;\npub mod c;\npub mod d;\n"),
        (
            "src/a.rs",
            "use crate::{\n    b::{Thing,\n        other::{Deep as D, self}},\n    c::*,\n};\nuse std::fmt;\n",
        ),
        ("src/b/mod.rs", "pub mod other;\npub struct Thing;\n"),
        ("src/b/other.rs", "pub struct Deep;\n"),
        ("src/c.rs", ""),
        ("src/d.rs", ""),
    ]);
    let graph = rust_graph(&files, "src/lib.rs", None);
    assert_eq!(
        edges(&graph),
        [
            "src/a.rs -> src/b/mod.rs: Thing",
            "src/a.rs -> src/b/other.rs: Deep, other",
            "src/a.rs -> src/c.rs: *"
        ]
    );
}

#[test]
fn rust_paths_in_code_count_and_comments_and_strings_do_not() {
    let files = sources(&[
        (
            "src/lib.rs",
            "pub mod a;\npub mod b;\npub mod c;\npub mod d;\n",
        ),
        (
            "src/a.rs",
            r##"
            // use crate::b::X;
            /* crate::b::Y /* nested */ crate::b::Z */
            /// [`crate::b::Doc`]
            const S: &str = "crate::b::X";
            const R: &str = r#"crate::c::X "quoted""#;
            const C: char = '"';
            fn f<'a>(x: &'a str) -> crate::d::Out { let _ = 'x'; crate::d::make(x) }
            pub(crate) fn g() {}
            pub(in crate::a) fn h() {}
            "##,
        ),
        ("src/b.rs", ""),
        ("src/c.rs", ""),
        ("src/d.rs", ""),
    ]);
    let graph = rust_graph(&files, "src/lib.rs", None);
    assert_eq!(edges(&graph), ["src/a.rs -> src/d.rs: Out, make"]);
}

#[test]
fn rust_super_self_and_inline_modules_resolve_from_where_they_are_written() {
    let files = sources(&[
        ("src/lib.rs", "pub mod m;\npub mod top;\n"),
        ("src/top.rs", "pub fn t() {}\n"),
        ("src/m/mod.rs", "mod x;\nmod y;\npub use x::X;\npub struct P;\nfn f() { self::y::go() }\n"),
        (
            "src/m/x.rs",
            "use super::{y::Y, P};\nuse super::super::top;\npub struct X;\n\
             #[cfg(test)]\nmod tests {\n    use super::X;\n    use self::inner::Z;\n    mod inner { pub struct Z; }\n}\n",
        ),
        ("src/m/y.rs", "pub struct Y;\npub fn go() {}\n"),
    ]);
    let graph = rust_graph(&files, "src/lib.rs", None);
    // m/mod.rs's uses of its children (x::X, self::y) do not count, x's of its parent does;
    // `super` inside x.rs's inline tests module is x.rs itself.
    assert_eq!(
        edges(&graph),
        [
            "src/m/x.rs -> src/m/mod.rs: P",
            "src/m/x.rs -> src/m/y.rs: Y",
            "src/m/x.rs -> src/top.rs: top"
        ]
    );
}

#[test]
fn rust_cycle_is_found_with_its_edges() {
    let files = sources(&[
        (
            "src/lib.rs",
            "pub mod a;\npub mod b;\npub mod c;\npub mod ok;\n",
        ),
        ("src/a.rs", "use crate::b::B;\npub struct A;\n"),
        ("src/b.rs", "use crate::{\n    c::C,\n};\npub struct B;\n"),
        (
            "src/c.rs",
            "pub struct C(crate::a::A);\nuse crate::ok::Fine;\n",
        ),
        ("src/ok.rs", "pub struct Fine;\n"),
        (
            "src/bin/tool/main.rs",
            "mod helper;\nuse daftseg::a::A;\nuse crate::helper::H;\n",
        ),
        (
            "src/bin/tool/helper.rs",
            "pub struct H;\nuse crate::Main;\n",
        ),
    ]);
    let graph = rust_graph(&files, "src/lib.rs", Some("src/bin/"));
    assert!(!graph.contains_key("src/bin/tool/main.rs"));
    let found = cycles(&graph);
    assert_eq!(found, [["src/a.rs", "src/b.rs", "src/c.rs"]]);
    assert_eq!(
        describe(&graph, &found),
        "cycle 1: src/a.rs, src/b.rs, src/c.rs\n    src/a.rs -> src/b.rs: B\n    \
         src/b.rs -> src/c.rs: C\n    src/c.rs -> src/a.rs: A\n"
    );
    // The binary is a crate of its own: its helper's use of main.rs counts, main.rs's of its
    // child does not, and `daftseg::` is the library (not followed).
    let binary = rust_graph(&files, "src/bin/tool/main.rs", None);
    assert_eq!(
        edges(&binary),
        ["src/bin/tool/helper.rs -> src/bin/tool/main.rs: Main"]
    );
    assert!(cycles(&binary).is_empty());
}

#[test]
fn rust_child_parent_and_back_through_another_module_is_a_cycle() {
    let files = sources(&[
        ("src/lib.rs", "pub mod m;\npub mod other;\n"),
        (
            "src/m/mod.rs",
            "mod child;\npub use child::C;\npub fn helper() { crate::other::f() }\n",
        ),
        (
            "src/m/child.rs",
            "pub struct C;\nfn g() { super::helper() }\n",
        ),
        (
            "src/other.rs",
            "pub fn f() {}\nfn h() -> crate::m::child::C { todo!() }\n",
        ),
    ]);
    let found = cycles(&rust_graph(&files, "src/lib.rs", None));
    assert_eq!(found, [["src/m/child.rs", "src/m/mod.rs", "src/other.rs"]]);
}

#[test]
fn rust_cycle_hidden_behind_a_parent_re_export_is_found() {
    let files = sources(&[
        (
            "src/lib.rs",
            "pub mod m;\npub mod other;\npub use m::Alias;\n",
        ),
        (
            "src/m/mod.rs",
            "pub mod format;\nmod globbed;\nmod inner;\npub(crate) use format::gunzip;\n\
             pub use inner::Deep as Alias;\npub use self::inner::{self as renamed};\n\
             pub use globbed::*;\npub struct Own;\n",
        ),
        (
            "src/m/format.rs",
            "pub fn gunzip() {}\nfn f() { crate::other::unreadable() }\n",
        ),
        ("src/m/globbed.rs", "pub struct G;\npub struct Own;\n"),
        ("src/m/inner.rs", "pub struct Deep;\npub struct Thing;\n"),
        (
            "src/other.rs",
            "pub fn unreadable() { crate::m::gunzip() }\n\
             use crate::{Alias, m::{G, Own, renamed::Thing}};\n",
        ),
    ]);
    let graph = rust_graph(&files, "src/lib.rs", None);
    // `Alias` goes through lib.rs and m/mod.rs to m/inner.rs; m/mod.rs's own `Own` wins over
    // the glob's.
    assert_eq!(
        edges(&graph),
        [
            "src/m/format.rs -> src/other.rs: unreadable",
            "src/other.rs -> src/m/format.rs: gunzip",
            "src/other.rs -> src/m/globbed.rs: G",
            "src/other.rs -> src/m/inner.rs: Deep, Thing",
            "src/other.rs -> src/m/mod.rs: Own",
        ]
    );
    assert_eq!(cycles(&graph), [["src/m/format.rs", "src/other.rs"]]);
}

#[test]
fn rust_parent_re_exporting_a_child_item_is_not_a_cycle() {
    let files = sources(&[
        ("src/lib.rs", "pub mod m;\npub mod other;\n"),
        (
            "src/m/mod.rs",
            "mod a;\nmod b;\npub use a::A;\npub fn helper() { crate::other::f() }\n",
        ),
        ("src/m/a.rs", "pub struct A;\n"),
        (
            "src/m/b.rs",
            "fn g() -> super::A { super::helper(); todo!() }\n",
        ),
        (
            "src/other.rs",
            "pub fn f() {}\nfn h() -> crate::m::A { todo!() }\n",
        ),
    ]);
    let graph = rust_graph(&files, "src/lib.rs", None);
    // Read as an import of m/mod.rs, other.rs's `crate::m::A` made m/mod.rs <-> other.rs.
    assert_eq!(
        edges(&graph),
        [
            "src/m/b.rs -> src/m/a.rs: A",
            "src/m/b.rs -> src/m/mod.rs: helper",
            "src/m/mod.rs -> src/other.rs: f",
            "src/other.rs -> src/m/a.rs: A",
        ]
    );
    assert!(cycles(&graph).is_empty());
}

#[test]
fn python_imports_at_any_depth_and_in_every_form() {
    let files = sources(&[
        ("models/__init__.py", ""),
        ("models/__main__.py", "import importlib\nimportlib.import_module(f\"models.{name}\")\n"),
        (
            "models/a.py",
            "\"\"\"Docstring: from .b import nothing\nimport models.c\n\"\"\"\nimport numpy as np\n\
             from . import b as bee, c\nfrom .data import loader\n# from .d import X\n\n\
             def f():\n    from .d import (\n        X,\n        Y as Z,\n    )\n    import models.e; import models\n",
        ),
        ("models/b.py", "s = 'from .a import x'\n"),
        ("models/c.py", ""),
        ("models/d.py", ""),
        ("models/e.py", "from models.data.loader import load\n"),
        ("models/data/__init__.py", "from .. import c\n"),
        ("models/data/loader.py", "from ..d import X\nfrom . import helpers_in_init\n"),
    ]);
    let graph = python_graph(&files);
    assert_eq!(
        edges(&graph),
        [
            "models/a.py -> models/__init__.py: models",
            "models/a.py -> models/b.py: b",
            "models/a.py -> models/c.py: c",
            "models/a.py -> models/d.py: X, Y",
            "models/a.py -> models/data/loader.py: loader",
            "models/a.py -> models/e.py: e",
            "models/data/__init__.py -> models/c.py: c",
            "models/data/loader.py -> models/d.py: X",
            "models/data/loader.py -> models/data/__init__.py: helpers_in_init",
            "models/e.py -> models/data/loader.py: load",
        ]
    );
    assert!(cycles(&graph).is_empty());
}

#[test]
fn python_cycle_through_an_import_inside_a_function_is_found() {
    let files = sources(&[
        ("models/__init__.py", ""),
        ("models/steps.py", "from .shared import helper\n"),
        (
            "models/shared.py",
            "def helper():\n    from models.steps import main\n    return main\n",
        ),
        ("models/other.py", "from .shared import helper\n"),
    ]);
    let graph = python_graph(&files);
    let found = cycles(&graph);
    assert_eq!(found, [["models/shared.py", "models/steps.py"]]);
    assert_eq!(
        describe(&graph, &found),
        "cycle 1: models/shared.py, models/steps.py\n    models/shared.py -> models/steps.py: main\n    \
         models/steps.py -> models/shared.py: helper\n"
    );
}
