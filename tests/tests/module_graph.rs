//! The module-graph check: no crate of the workspace has an import cycle between modules.
//!
//! Run it alone (no Redis, no AWS emulator needed):
//!
//! ```text
//! cargo test -p rhosync-e2e --test module_graph
//! ```
//!
//! The rule, for every module of every crate: the graph among its direct child modules —
//! each child standing for its whole subtree — has no cycle. An edge `a -> b` exists when
//! code anywhere under `a` names something under `b`; a child naming its parent's own items
//! (`super::Thing`, `crate::AppState` from a top-level module) is no edge. So
//! `sync -> http -> sync` is a cycle between two top-level modules, and
//! `adapters::factory -> adapters::plugin -> adapters::factory` one inside `adapters`.
//!
//! The sources are read as tokens, without a Rust parser: comments, doc comments, string and
//! char literals are dropped, `#[cfg(test)]` items are skipped, and what remains is scanned
//! for `use` trees and for `a::b` paths in code. A path's first segment is resolved like the
//! compiler does in the 2018 edition: `crate`, `self`, `super`, a child module of the
//! current module, or a name a `use` brought in; anything else is another crate. The crates
//! are the workspace's members (root `Cargo.toml`), each `src/lib.rs` and `src/main.rs` a
//! crate of its own.
//!
//! A failure lists each cycle with one reference per edge; `MODULE_GRAPH_ALL=1` lists every
//! reference. `MODULE_GRAPH_FOLLOW_REEXPORTS=1` counts a name a module re-exports (`pub
//! use`) as the module that defines it (`crate::AppState` as `crate::state`) — stricter than
//! the rule, for looking at the cycles re-exports hide.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[test]
fn no_module_import_cycles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or_else(|| Path::new("..")).to_path_buf();
    let crates = workspace_crates(&root);
    assert!(crates.iter().any(|c| c.name == "rhosync-server"), "rhosync-server not found among {crates:?}");
    // Not part of the rule: shows what the re-exports hide (see `analyze`).
    let follow_reexports = std::env::var_os("MODULE_GRAPH_FOLLOW_REEXPORTS").is_some();
    // Paths relative to the workspace root, so that the report names them so.
    let read = |p: &Path| std::fs::read_to_string(root.join(p)).ok();
    let mut failures = String::new();
    for krate in &crates {
        let graph = match analyze(&krate.root_file, &read, follow_reexports) {
            Ok(g) => g,
            Err(e) => {
                let _ = writeln!(failures, "{}: {e}", krate.name);
                continue;
            }
        };
        if krate.name == "rhosync-server" || krate.name == "rhosync-engine" {
            // Guards the reader itself: a crate found empty would pass any rule.
            assert!(graph.modules.len() >= 7, "{}: only {} modules found", krate.name, graph.modules.len());
            assert!(graph.references > 20, "{}: only {} references found", krate.name, graph.references);
        }
        eprintln!("{}: {} modules, {} references into the crate", krate.name, graph.modules.len(), graph.references);
        for cycle in graph.cycles(&[]) {
            let _ = writeln!(failures, "{}: {}", krate.name, cycle.render());
        }
    }
    assert!(failures.is_empty(), "module import cycles (a -> b: where b is named under a):\n{failures}");
}

// ---------------------------------------------------------------------------------------
// The checker's own tests, on synthetic trees held in memory.

fn synthetic(files: &[(&str, &str)]) -> Graph {
    synthetic_with(files, false)
}

fn synthetic_with(files: &[(&str, &str)], follow_reexports: bool) -> Graph {
    let files: HashMap<PathBuf, String> = files.iter().map(|(p, s)| (PathBuf::from(p), s.to_string())).collect();
    let read = |p: &Path| files.get(p).cloned();
    analyze(Path::new("src/lib.rs"), &read, follow_reexports).unwrap_or_else(|e| panic!("synthetic tree: {e}"))
}

fn rendered_cycles(graph: &Graph) -> Vec<String> {
    graph.cycles(&[]).iter().map(|c| c.path.join(" -> ")).collect()
}

#[test]
fn checker_reports_a_cycle_between_top_level_modules() {
    let graph = synthetic(&[
        ("src/lib.rs", "pub mod a;\npub mod b;\npub mod c;\npub struct Root;"),
        ("src/a.rs", "use crate::b::Thing;\npub fn g() {}"),
        ("src/b/mod.rs", "mod inner;\npub struct Thing;"),
        ("src/b/inner.rs", "pub fn f() { super::super::a::g(); crate::c::h(); }"),
        ("src/c.rs", "pub fn h() { let _ = crate::Root; }"),
    ]);
    assert_eq!(rendered_cycles(&graph), ["a -> b -> a"]);
    let cycle = &graph.cycles(&[])[0];
    assert!(cycle.render().contains("src/b/inner.rs:1"), "{}", cycle.render());
    assert!(graph.cycles(&[("b".into(), "a".into())]).is_empty(), "an ignored edge breaks the cycle");
}

#[test]
fn checker_reports_a_cycle_inside_a_module_and_follows_aliases() {
    let graph = synthetic(&[
        ("src/lib.rs", "pub mod outer;"),
        ("src/outer/mod.rs", "pub mod x;\npub mod y;\nuse y::Y;\npub struct Shared;"),
        ("src/outer/x.rs", "use super::y as why;\npub struct X;"),
        ("src/outer/y.rs", "use super::{Shared, x};\npub struct Y(x::X);"),
    ]);
    assert_eq!(rendered_cycles(&graph), ["outer::x -> outer::y -> outer::x"]);
}

#[test]
fn checker_passes_a_tree_without_cycles_whatever_its_comments_strings_and_tests_say() {
    let graph = synthetic(&[
        ("src/lib.rs", "pub mod a;\npub mod b;\npub struct Root;\npub use b::Thing;"),
        ("src/a.rs", "//! Uses [`crate::b`].\nuse crate::b::{self, Thing};\npub fn g(t: Thing) { b::f(t) }"),
        (
            "src/b.rs",
            concat!(
                "/// Not [`crate::a::g`]. /* nested /* crate::a */ */\n",
                "/* crate::a::g() */\n",
                "pub struct Thing;\n",
                "pub fn f(_t: Thing) { let _ = crate::Root; let _ = super::Root; }\n",
                "fn s<'a>(x: &'a str) -> (&'a str, char, char, &'static str) {\n",
                "    (x, '{', '\\'', r#\"crate::a::g() \"quoted\" {\"#)\n",
                "}\n",
                "const C: &str = \"crate::a::g() \\\" {\";\n",
                "const B: &[u8] = b\"crate::a\";\n",
                "#[cfg(test)]\n",
                "mod tests {\n",
                "    use crate::a::g;\n",
                "    fn t() { g(super::Thing); crate::a::g(super::Thing); }\n",
                "}\n",
                "#[cfg(test)]\n",
                "mod file_tests;\n",
            ),
        ),
    ]);
    assert!(graph.cycles(&[]).is_empty(), "{:?}", rendered_cycles(&graph));
    let edges: Vec<Edge> = graph.edge_list().into_iter().map(|(e, _)| e).collect();
    assert_eq!(edges, [("a".to_string(), "b".to_string())]);
}

#[test]
fn checker_counts_a_parent_s_re_export_as_the_parent_s_unless_told_to_follow_it() {
    let files = [
        ("src/lib.rs", "pub mod a;\npub mod b;\npub use a::A;"),
        ("src/a.rs", "pub struct A;\npub fn f() { crate::b::g() }"),
        ("src/b.rs", "use crate::A;\npub fn g() {}"),
    ];
    assert!(rendered_cycles(&synthetic(&files)).is_empty());
    assert_eq!(rendered_cycles(&synthetic_with(&files, true)), ["a -> b -> a"]);
}

#[test]
fn checker_refuses_a_module_without_a_file() {
    let files: HashMap<PathBuf, String> = [(PathBuf::from("src/lib.rs"), "mod missing;".to_string())].into();
    let read = |p: &Path| files.get(p).cloned();
    let err = analyze(Path::new("src/lib.rs"), &read, false).err().unwrap_or_default();
    assert!(err.contains("missing"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Workspace members.

#[derive(Debug)]
struct Crate {
    name: String,
    root_file: PathBuf,
}

/// Every `src/lib.rs` and `src/main.rs` of the members listed in the root `Cargo.toml`.
fn workspace_crates(root: &Path) -> Vec<Crate> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
    let members = manifest
        .split_once("members")
        .and_then(|(_, rest)| rest.split_once('['))
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .unwrap_or_default();
    let mut crates = Vec::new();
    for member in members.split(',').map(|m| m.trim().trim_matches('"')).filter(|m| !m.is_empty()) {
        let dir = root.join(member);
        let package = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        let name = package
            .lines()
            .find_map(|l| l.trim().strip_prefix("name").map(|r| r.trim_start()))
            .and_then(|r| r.strip_prefix('='))
            .map(|r| r.trim().trim_matches('"').to_string())
            .unwrap_or_else(|| member.to_string());
        for file in ["src/lib.rs", "src/main.rs"] {
            let root_file = Path::new(member).join(file);
            if dir.join(file).is_file() {
                let name = if file == "src/main.rs" { format!("{name} (bin)") } else { name.clone() };
                crates.push(Crate { name, root_file });
            }
        }
    }
    crates
}

// ---------------------------------------------------------------------------------------
// Tokens: identifiers, `::` and single punctuation characters, each with its line.
// Comments, literals and lifetimes produce none.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    PathSep,
    Punct(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

impl Token {
    fn is_ident(&self, s: &str) -> bool {
        matches!(&self.tok, Tok::Ident(i) if i == s)
    }
    fn is_punct(&self, c: char) -> bool {
        self.tok == Tok::Punct(c)
    }
    fn ident(&self) -> Option<&str> {
        match &self.tok {
            Tok::Ident(i) => Some(i),
            _ => None,
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn lex(src: &str) -> Vec<Token> {
    let s: Vec<char> = src.chars().collect();
    let at = |i: usize| s.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // Skips a quoted literal whose opening quote is at `i`; returns the index after it.
    let skip_quoted = |mut i: usize, quote: char, line: &mut usize| -> usize {
        i += 1;
        while i < s.len() {
            match s[i] {
                '\\' => i += 1,
                '\n' => *line += 1,
                c if c == quote => return i + 1,
                _ => {}
            }
            i += 1;
        }
        i
    };
    while i < s.len() {
        let c = s[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if s[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if s[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' {
            i = skip_quoted(i, '"', &mut line);
        } else if c == '\'' {
            if at(i + 1) == '\\' || at(i + 2) == '\'' {
                i = skip_quoted(i, '\'', &mut line);
            } else {
                // A lifetime or label.
                i += 1;
                while i < s.len() && is_ident_char(s[i]) {
                    i += 1;
                }
            }
        } else if c.is_ascii_digit() {
            while i < s.len() && (is_ident_char(s[i]) || (s[i] == '.' && at(i + 1).is_ascii_digit())) {
                i += 1;
            }
        } else if is_ident_start(c) {
            let start = i;
            while i < s.len() && is_ident_char(s[i]) {
                i += 1;
            }
            let word: String = s[start..i].iter().collect();
            let raw_prefix = matches!(word.as_str(), "r" | "br" | "cr");
            if raw_prefix && (at(i) == '"' || (at(i) == '#' && (at(i + 1) == '"' || at(i + 1) == '#'))) {
                let mut hashes = 0;
                while at(i) == '#' {
                    hashes += 1;
                    i += 1;
                }
                i += 1; // the opening quote
                while i < s.len() {
                    if s[i] == '"' && (1..=hashes).all(|k| at(i + k) == '#') {
                        i += 1 + hashes;
                        break;
                    }
                    if s[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            } else if word == "r" && at(i) == '#' && is_ident_start(at(i + 1)) {
                let start = i + 1;
                i += 1;
                while i < s.len() && is_ident_char(s[i]) {
                    i += 1;
                }
                out.push(Token { tok: Tok::Ident(s[start..i].iter().collect()), line });
            } else if matches!(word.as_str(), "b" | "c") && at(i) == '"' {
                i = skip_quoted(i, '"', &mut line);
            } else if word == "b" && at(i) == '\'' {
                i = skip_quoted(i, '\'', &mut line);
            } else {
                out.push(Token { tok: Tok::Ident(word), line });
            }
        } else if c == ':' && at(i + 1) == ':' {
            out.push(Token { tok: Tok::PathSep, line });
            i += 2;
        } else if c == '$' && s[i + 1..].starts_with(&['c', 'r', 'a', 't', 'e']) && !is_ident_char(at(i + 6)) {
            // `$crate` in a macro: this crate.
            out.push(Token { tok: Tok::Ident("crate".into()), line });
            i += 6;
        } else {
            out.push(Token { tok: Tok::Punct(c), line });
            i += 1;
        }
    }
    out
}

/// The index just past the bracket group opening at `open` (`(`, `[` or `{`).
fn skip_group(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    let mut i = open;
    while i < tokens.len() {
        match tokens[i].tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// The index just past the item starting at `start`: its first `;` outside brackets, or the
/// end of its first top-level `{…}` block (and a `;` right after it).
fn skip_item(tokens: &[Token], start: usize) -> usize {
    let mut i = start;
    while i < tokens.len() {
        match tokens[i].tok {
            Tok::Punct(';') => return i + 1,
            Tok::Punct('{') => {
                let end = skip_group(tokens, i);
                return if tokens.get(end).is_some_and(|t| t.is_punct(';')) { end + 1 } else { end };
            }
            Tok::Punct('(' | '[') => i = skip_group(tokens, i),
            // The end of the enclosing block: the item was its last.
            Tok::Punct('}' | ')' | ']') => return i,
            _ => i += 1,
        }
    }
    i
}

/// Whether the attribute whose `#` is at `hash` is `#[cfg(test)]` (or `#![cfg(test)]`).
fn is_cfg_test(tokens: &[Token], hash: usize) -> bool {
    let body = if tokens.get(hash + 1).is_some_and(|t| t.is_punct('!')) { hash + 2 } else { hash + 1 };
    let want: [fn(&Token) -> bool; 5] =
        [|t| t.is_punct('['), |t| t.is_ident("cfg"), |t| t.is_punct('('), |t| t.is_ident("test"), |t| t.is_punct(')')];
    want.iter().enumerate().all(|(k, f)| tokens.get(body + k).is_some_and(f))
}

// ---------------------------------------------------------------------------------------
// Modules.

/// A module path below the crate root; the root itself is the empty path.
type ModPath = Vec<String>;

fn show(path: &[String]) -> String {
    if path.is_empty() {
        "crate".into()
    } else {
        path.join("::")
    }
}

struct Module {
    file: PathBuf,
    /// The module's own tokens: without its inline child modules and `#[cfg(test)]` items.
    tokens: Vec<Token>,
    children: BTreeSet<String>,
}

enum ChildBody {
    File,
    Inline(Vec<Token>),
}

/// Splits a module's tokens into its own and its child modules' declarations.
fn split_module(tokens: &[Token]) -> (Vec<Token>, Vec<(String, ChildBody)>) {
    let mut own = Vec::new();
    let mut children = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        if t.is_punct('#') && is_cfg_test(tokens, i) {
            let inner = tokens.get(i + 1).is_some_and(|t| t.is_punct('!'));
            if inner {
                // `#![cfg(test)]`: the whole module is test code.
                return (Vec::new(), Vec::new());
            }
            let attr_end = skip_group(tokens, i + 1);
            i = skip_item(tokens, attr_end);
            continue;
        }
        if t.is_ident("mod") {
            if let Some(name) = tokens.get(i + 1).and_then(Token::ident) {
                match tokens.get(i + 2).map(|t| &t.tok) {
                    Some(Tok::Punct(';')) => {
                        children.push((name.to_string(), ChildBody::File));
                        i += 3;
                        continue;
                    }
                    Some(Tok::Punct('{')) => {
                        let end = skip_group(tokens, i + 2);
                        let body = tokens[i + 3..end.saturating_sub(1).max(i + 3)].to_vec();
                        children.push((name.to_string(), ChildBody::Inline(body)));
                        i = end;
                        continue;
                    }
                    _ => {}
                }
            }
        }
        own.push(t.clone());
        i += 1;
    }
    (own, children)
}

/// Reads the module tree from `root_file` and resolves every reference. With
/// `follow_reexports`, a name re-exported by a `pub use` counts as the module that defines
/// it (`crate::AppState` as `crate::state`); the rule itself does not follow them.
fn analyze(root_file: &Path, read: &dyn Fn(&Path) -> Option<String>, follow_reexports: bool) -> Result<Graph, String> {
    let mut modules: BTreeMap<ModPath, Module> = BTreeMap::new();
    let src = read(root_file).ok_or_else(|| format!("cannot read {}", root_file.display()))?;
    let dir = root_file.parent().unwrap_or_else(|| Path::new("")).to_path_buf();
    // (module path, its file, the directory of its file children, its tokens)
    let mut pending = vec![(Vec::new(), root_file.to_path_buf(), dir, lex(&src))];
    while let Some((path, file, child_dir, tokens)) = pending.pop() {
        let (own, children) = split_module(&tokens);
        let mut names = BTreeSet::new();
        for (name, body) in children {
            let mut child_path = path.clone();
            child_path.push(name.clone());
            names.insert(name.clone());
            match body {
                ChildBody::Inline(tokens) => pending.push((child_path, file.clone(), child_dir.join(&name), tokens)),
                ChildBody::File => {
                    let flat = child_dir.join(format!("{name}.rs"));
                    let nested = child_dir.join(&name).join("mod.rs");
                    let (child_file, src, grand_dir) = if let Some(src) = read(&flat) {
                        (flat, src, child_dir.join(&name))
                    } else if let Some(src) = read(&nested) {
                        (nested, src, child_dir.join(&name))
                    } else {
                        return Err(format!(
                            "module {} declared in {} has no file ({} or {})",
                            show(&child_path),
                            file.display(),
                            flat.display(),
                            nested.display()
                        ));
                    };
                    let tokens = lex(&src);
                    pending.push((child_path, child_file, grand_dir, tokens));
                }
            }
        }
        modules.insert(path, Module { file, tokens: own, children: names });
    }
    let bound: BTreeMap<&ModPath, Bindings> = modules.iter().map(|(path, m)| (path, bindings(path, m))).collect();
    let reexports: BTreeMap<ModPath, HashMap<String, Vec<String>>> =
        bound.iter().map(|(path, b)| ((*path).clone(), b.reexports.clone())).collect();
    let reexports = follow_reexports.then_some(&reexports);
    let mut graph = Graph { modules: modules.keys().cloned().collect(), edges: BTreeMap::new(), references: 0 };
    for (path, module) in &modules {
        for (target, line, shown) in references(path, module, &bound[path], &modules, reexports) {
            graph.add(path, &target, Evidence { file: module.file.clone(), line, path: shown });
        }
    }
    Ok(graph)
}

/// A `use` tree's leaf: its path as written and the name it binds (`None` for a glob).
struct UseLeaf {
    segments: Vec<String>,
    alias: Option<String>,
    line: usize,
}

fn parse_use_tree(tokens: &[Token], i: &mut usize, mut prefix: Vec<String>, out: &mut Vec<UseLeaf>) {
    while let Some(t) = tokens.get(*i) {
        let line = t.line;
        match &t.tok {
            Tok::PathSep => {
                // A leading `::`: another crate.
                prefix.push("::".into());
                *i += 1;
            }
            Tok::Ident(name) => {
                *i += 1;
                if tokens.get(*i).is_some_and(|t| t.tok == Tok::PathSep) {
                    prefix.push(name.clone());
                    *i += 1;
                    continue;
                }
                let mut alias = if name == "self" { prefix.last().cloned() } else { Some(name.clone()) };
                if tokens.get(*i).is_some_and(|t| t.is_ident("as")) {
                    alias = tokens.get(*i + 1).and_then(Token::ident).map(str::to_string);
                    *i += 2;
                }
                if name != "self" {
                    prefix.push(name.clone());
                }
                out.push(UseLeaf { segments: prefix, alias, line });
                return;
            }
            Tok::Punct('*') => {
                *i += 1;
                out.push(UseLeaf { segments: prefix, alias: None, line });
                return;
            }
            Tok::Punct('{') => {
                *i += 1;
                while let Some(t) = tokens.get(*i) {
                    if t.is_punct('}') {
                        *i += 1;
                        return;
                    }
                    let before = *i;
                    parse_use_tree(tokens, i, prefix.clone(), out);
                    if tokens.get(*i).is_some_and(|t| t.is_punct(',')) {
                        *i += 1;
                    } else if *i == before {
                        *i += 1; // not a use tree; do not loop on it
                    }
                }
                return;
            }
            _ => return,
        }
    }
}

/// Resolves a path as written in `module` to a path from the crate root, or `None` when it
/// names another crate (or nothing this reader can follow).
fn resolve(
    module: &[String],
    segments: &[String],
    children: &BTreeSet<String>,
    aliases: &HashMap<String, Vec<String>>,
) -> Option<Vec<String>> {
    let first = segments.first()?;
    let (mut base, rest): (Vec<String>, &[String]) = match first.as_str() {
        "crate" => (Vec::new(), &segments[1..]),
        "self" => (module.to_vec(), &segments[1..]),
        "super" => {
            let mut base = module.to_vec();
            let mut k = 0;
            while segments.get(k).is_some_and(|s| s == "super") {
                base.pop()?;
                k += 1;
            }
            (base, &segments[k..])
        }
        name if children.contains(name) => {
            let mut base = module.to_vec();
            base.push(name.to_string());
            (base, &segments[1..])
        }
        name => (aliases.get(name)?.clone(), &segments[1..]),
    };
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The names a module's `use` declarations bind, resolved from the crate root.
struct Bindings {
    /// Each resolved `use` leaf: (target, line, as written).
    uses: Vec<(Vec<String>, usize, String)>,
    aliases: HashMap<String, Vec<String>>,
    /// The names its `pub use` declarations (of any visibility) re-export, and their targets.
    reexports: HashMap<String, Vec<String>>,
    /// Which tokens belong to `use` declarations.
    in_use: Vec<bool>,
}

fn bindings(path: &[String], module: &Module) -> Bindings {
    let tokens = &module.tokens;
    let mut leaves = Vec::new();
    let mut public = Vec::new();
    let mut in_use = vec![false; tokens.len()];
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i].is_ident("use") {
            // `pub use`, `pub(crate) use`, `pub(in …) use`.
            let visible = i > 0
                && (tokens[i - 1].is_ident("pub")
                    || (tokens[i - 1].is_punct(')')
                        && tokens[..i]
                            .iter()
                            .rposition(|t| t.is_punct('('))
                            .is_some_and(|k| k > 0 && tokens[k - 1].is_ident("pub"))));
            let start = i;
            let before = leaves.len();
            i += 1;
            parse_use_tree(tokens, &mut i, Vec::new(), &mut leaves);
            public.resize(before, false);
            public.resize(leaves.len(), visible);
            in_use[start..i.min(tokens.len())].iter_mut().for_each(|b| *b = true);
        } else {
            i += 1;
        }
    }
    // Aliases may build on aliases (`use crate::a; use a::b;`), in any order.
    let mut aliases: HashMap<String, Vec<String>> = HashMap::new();
    let mut resolved: Vec<Option<Vec<String>>> = vec![None; leaves.len()];
    loop {
        let mut progress = false;
        for (k, leaf) in leaves.iter().enumerate() {
            if resolved[k].is_none() {
                if let Some(target) = resolve(path, &leaf.segments, &module.children, &aliases) {
                    if let Some(alias) = &leaf.alias {
                        aliases.insert(alias.clone(), target.clone());
                    }
                    resolved[k] = Some(target);
                    progress = true;
                }
            }
        }
        if !progress {
            break;
        }
    }
    let mut reexports = HashMap::new();
    let mut uses = Vec::new();
    for ((leaf, target), visible) in leaves.iter().zip(resolved).zip(public) {
        let Some(target) = target else { continue };
        if let (true, Some(alias)) = (visible, &leaf.alias) {
            reexports.insert(alias.clone(), target.clone());
        }
        uses.push((target, leaf.line, leaf.segments.join("::")));
    }
    Bindings { uses, aliases, reexports, in_use }
}

/// Every reference of `module`'s own code: (target module, line, as written). With
/// `reexports` (each module's [`Bindings::reexports`]), a name a module re-exports counts
/// as the module that defines it.
fn references(
    path: &[String],
    module: &Module,
    bound: &Bindings,
    modules: &BTreeMap<ModPath, Module>,
    reexports: Option<&BTreeMap<ModPath, HashMap<String, Vec<String>>>>,
) -> Vec<(Vec<String>, usize, String)> {
    let tokens = &module.tokens;
    let mut out = bound.uses.clone();
    // The paths in code: `a::b…` not preceded by `::`.
    for i in 0..tokens.len() {
        let starts = !bound.in_use[i]
            && tokens[i].ident().is_some()
            && tokens.get(i + 1).is_some_and(|t| t.tok == Tok::PathSep)
            && (i == 0 || tokens[i - 1].tok != Tok::PathSep);
        if !starts {
            continue;
        }
        let mut segments = Vec::new();
        let mut k = i;
        while let Some(name) = tokens.get(k).and_then(Token::ident) {
            segments.push(name.to_string());
            if tokens.get(k + 1).is_some_and(|t| t.tok == Tok::PathSep) {
                k += 2;
            } else {
                break;
            }
        }
        if let Some(target) = resolve(path, &segments, &module.children, &bound.aliases) {
            out.push((target, tokens[i].line, segments.join("::")));
        }
    }
    // Each target as the deepest module its path names.
    let deepest =
        |target: &[String]| (0..=target.len()).rev().find(|&d| modules.contains_key(&target[..d])).unwrap_or(0);
    out.into_iter()
        .map(|(mut target, line, shown)| {
            let mut depth = deepest(&target);
            // Follow re-exports (a bounded number of times: they could loop).
            for _ in 0..8 {
                let Some(map) = reexports.and_then(|r| r.get(&target[..depth])) else { break };
                let Some(original) = target.get(depth).and_then(|name| map.get(name)) else { break };
                let mut next = original.clone();
                next.extend(target[depth + 1..].iter().cloned());
                target = next;
                depth = deepest(&target);
            }
            (target[..depth].to_vec(), line, shown)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The graph.

#[derive(Debug, Clone)]
struct Evidence {
    file: PathBuf,
    line: usize,
    path: String,
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{} ({})", self.file.display(), self.line, self.path)
    }
}

/// An edge between two children of one module, as their full paths.
type Edge = (String, String);

struct Graph {
    modules: BTreeSet<ModPath>,
    /// (parent shown with a trailing `::`, or empty for the root; child a; child b) → the
    /// references that make `a -> b`, in source order.
    edges: BTreeMap<(String, String, String), Vec<Evidence>>,
    references: usize,
}

struct Cycle {
    /// The module paths of the strongly connected set.
    members: Vec<String>,
    /// One cycle through it, as module paths, first repeated at the end.
    path: Vec<String>,
    /// The references behind each edge of `path`.
    evidence: Vec<Vec<Evidence>>,
    /// Every other edge inside the set, when the set is larger than the cycle shown.
    others: Vec<(Edge, Vec<Evidence>)>,
}

/// One reference of an edge, or all of them with `MODULE_GRAPH_ALL=1`.
fn render_evidence(out: &mut String, from: &str, to: &str, evidence: &[Evidence]) {
    let all = std::env::var_os("MODULE_GRAPH_ALL").is_some();
    let shown = if all { evidence.len() } else { 1 };
    for e in evidence.iter().take(shown) {
        let _ = write!(out, "\n    {from} -> {to}: {e}");
    }
    if evidence.len() > shown {
        let _ = write!(out, " (+{} more; MODULE_GRAPH_ALL=1 lists them)", evidence.len() - shown);
    }
}

impl Cycle {
    fn render(&self) -> String {
        let mut s = self.path.join(" -> ");
        for (pair, e) in self.path.windows(2).zip(&self.evidence) {
            render_evidence(&mut s, &pair[0], &pair[1], e);
        }
        if !self.others.is_empty() {
            let _ = write!(s, "\n  strongly connected: {}; its other edges:", self.members.join(", "));
            for ((a, b), e) in &self.others {
                render_evidence(&mut s, a, b, e);
            }
        }
        s
    }
}

impl Graph {
    fn add(&mut self, from: &[String], to: &[String], evidence: Evidence) {
        self.references += 1;
        let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
        // An edge only between two different children of the common ancestor: a module
        // naming its ancestors' items, or its own descendants, is none.
        if common < from.len() && common < to.len() {
            let parent = if common == 0 { String::new() } else { format!("{}::", from[..common].join("::")) };
            self.edges.entry((parent, from[common].clone(), to[common].clone())).or_default().push(evidence);
        }
    }

    /// Every edge as full module paths, with its references.
    fn edge_list(&self) -> Vec<(Edge, &[Evidence])> {
        self.edges.iter().map(|((p, a, b), e)| ((format!("{p}{a}"), format!("{p}{b}")), e.as_slice())).collect()
    }

    /// The cycles, leaving out the `ignored` edges: per parent module, each strongly
    /// connected set of its children with one shortest cycle through its smallest member.
    fn cycles(&self, ignored: &[Edge]) -> Vec<Cycle> {
        let mut by_parent: BTreeMap<&str, BTreeMap<&str, BTreeSet<&str>>> = BTreeMap::new();
        for (parent, a, b) in self.edges.keys() {
            if !ignored.contains(&(format!("{parent}{a}"), format!("{parent}{b}"))) {
                by_parent.entry(parent).or_default().entry(a).or_default().insert(b);
            }
        }
        let mut cycles = Vec::new();
        for (parent, adj) in &by_parent {
            let evidence =
                |a: &str, b: &str| self.edges.get(&(parent.to_string(), a.to_string(), b.to_string())).cloned();
            for scc in strongly_connected(adj) {
                if scc.len() < 2 {
                    continue;
                }
                let inside: BTreeSet<&str> = scc.iter().copied().collect();
                let path = shortest_cycle(adj, scc[0], &inside);
                let on_path: BTreeSet<(&str, &str)> = path.windows(2).map(|w| (w[0], w[1])).collect();
                let mut others = Vec::new();
                for (&a, targets) in adj.iter().filter(|(a, _)| inside.contains(*a)) {
                    for &b in targets.iter().filter(|b| inside.contains(*b) && !on_path.contains(&(a, **b))) {
                        others.push((
                            (format!("{parent}{a}"), format!("{parent}{b}")),
                            evidence(a, b).unwrap_or_default(),
                        ));
                    }
                }
                cycles.push(Cycle {
                    members: scc.iter().map(|m| format!("{parent}{m}")).collect(),
                    path: path.iter().map(|m| format!("{parent}{m}")).collect(),
                    evidence: path.windows(2).map(|w| evidence(w[0], w[1]).unwrap_or_default()).collect(),
                    others,
                });
            }
        }
        cycles
    }
}

/// Tarjan's algorithm; each set sorted.
fn strongly_connected<'a>(adj: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Vec<Vec<&'a str>> {
    struct State<'a> {
        index: HashMap<&'a str, usize>,
        low: HashMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(v: &'a str, adj: &BTreeMap<&'a str, BTreeSet<&'a str>>, st: &mut State<'a>) {
        let n = st.index.len();
        st.index.insert(v, n);
        st.low.insert(v, n);
        st.stack.push(v);
        st.on_stack.insert(v);
        for &w in adj.get(v).into_iter().flatten() {
            if !st.index.contains_key(w) {
                visit(w, adj, st);
                let low = st.low[v].min(st.low[w]);
                st.low.insert(v, low);
            } else if st.on_stack.contains(w) {
                let low = st.low[v].min(st.index[w]);
                st.low.insert(v, low);
            }
        }
        if st.low[v] == st.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = st.stack.pop() {
                st.on_stack.remove(w);
                scc.push(w);
                if w == v {
                    break;
                }
            }
            scc.sort_unstable();
            st.out.push(scc);
        }
    }
    let mut st = State {
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for &v in adj.keys() {
        if !st.index.contains_key(v) {
            visit(v, adj, &mut st);
        }
    }
    st.out.sort();
    st.out
}

/// A shortest path `start -> … -> start` inside `inside` (breadth first).
fn shortest_cycle<'a>(
    adj: &BTreeMap<&'a str, BTreeSet<&'a str>>,
    start: &'a str,
    inside: &BTreeSet<&'a str>,
) -> Vec<&'a str> {
    let mut prev: HashMap<&str, &str> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in adj.get(v).into_iter().flatten().filter(|w| inside.contains(*w)) {
            if w == start {
                let mut path = vec![start, v];
                let mut cur = v;
                while cur != start {
                    cur = prev.get(cur).copied().unwrap_or(start);
                    path.push(cur);
                }
                path.reverse();
                return path;
            }
            if !prev.contains_key(w) && w != start {
                prev.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    vec![start, start]
}
