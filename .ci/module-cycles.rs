//! Finds import cycles between the modules of each crate of the workspace (std only; `.ci/run`
//! builds it with rustc and runs it from the repository root).
//!
//!     rustc --edition 2021 -O .ci/module-cycles.rs -o target/module-cycles && target/module-cycles
//!
//! For every crate root (`src/lib.rs`, `src/main.rs`, `src/bin/*.rs`) it follows the `mod`
//! declarations to the module files, reads every path a file names (`use` trees and inline
//! `crate::`, `super::`, `self::` paths; re-exports are followed to where the item is defined),
//! and then, for every module, checks the graph among its child modules: child A depends on
//! child B when anything inside A names anything inside B. A cycle among siblings is an error.
//! A child naming its own parent's items (`use super::Error`) is not an edge: a parent
//! declares its children, so counting that would make every module a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type ModPath = Vec<String>;

struct Module {
    file: PathBuf,
    /// Names this module re-exports (`pub use a::b::X;` → "X" → path of X).
    reexports: BTreeMap<String, ModPath>,
    /// Paths named by the file, made absolute (still including item names at the end).
    refs: Vec<ModPath>,
}

fn strip_comments_and_strings(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
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
        } else if b[i] == b'r' && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // Raw string r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(b[i] as char);
                i += 1;
                continue;
            }
            j += 1;
            'raw: while j < b.len() {
                if b[j] == b'"' && (0..hashes).all(|h| b.get(j + 1 + h) == Some(&b'#')) {
                    j += 1 + hashes;
                    break 'raw;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' {
            // A char literal ('a', '\n', '\'') or a lifetime ('a): skip literals only.
            if b.get(i + 2) == Some(&b'\'') {
                i += 3;
            } else if b.get(i + 1) == Some(&b'\\') {
                i += 2;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            } else {
                out.push('\'');
                i += 1;
            }
            out.push(' ');
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Sep,
    Open,
    Close,
    Comma,
    Semi,
    Star,
    Other,
}

fn tokens(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
            continue;
        }
        if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push(Tok::Sep);
            i += 2;
            continue;
        }
        out.push(match ch {
            '{' => Tok::Open,
            '}' => Tok::Close,
            ',' => Tok::Comma,
            ';' => Tok::Semi,
            '*' => Tok::Star,
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            _ => Tok::Other,
        });
        i += 1;
    }
    out
}

/// Parses a use tree starting at `toks[*i]`; pushes every full path (with `*` dropped).
fn use_tree(toks: &[Tok], i: &mut usize, prefix: &ModPath, out: &mut Vec<(ModPath, Option<String>)>) {
    let mut path = prefix.clone();
    loop {
        match toks.get(*i) {
            Some(Tok::Ident(id)) => {
                path.push(id.clone());
                *i += 1;
                if toks.get(*i) == Some(&Tok::Sep) {
                    *i += 1;
                    continue;
                }
                // `as` alias
                if let Some(Tok::Ident(kw)) = toks.get(*i)
                    && kw == "as"
                {
                    *i += 1;
                    let alias = match toks.get(*i) {
                        Some(Tok::Ident(a)) => Some(a.clone()),
                        _ => None,
                    };
                    *i += 1;
                    out.push((path, alias));
                    return;
                }
                let name = path.last().cloned();
                out.push((path, name));
                return;
            }
            Some(Tok::Star) => {
                *i += 1;
                out.push((path, None));
                return;
            }
            Some(Tok::Open) => {
                *i += 1;
                loop {
                    match toks.get(*i) {
                        Some(Tok::Close) => {
                            *i += 1;
                            return;
                        }
                        Some(Tok::Comma) => *i += 1,
                        None => return,
                        _ => use_tree(toks, i, &path, out),
                    }
                }
            }
            _ => {
                *i += 1;
                return;
            }
        }
    }
}

struct Crate {
    root_dir: PathBuf,
    modules: BTreeMap<ModPath, Module>,
}

fn module_dir(file: &Path, is_root_or_mod: bool, name: &str) -> PathBuf {
    let dir = file.parent().unwrap().to_path_buf();
    if is_root_or_mod {
        dir
    } else {
        dir.join(name)
    }
}

/// `mod x;` declarations of a file (inline `mod x { .. }` blocks are part of the file).
fn declared_mods(toks: &[Tok]) -> Vec<String> {
    let mut out = Vec::new();
    for w in toks.windows(3) {
        if let [Tok::Ident(kw), Tok::Ident(name), Tok::Semi] = w
            && kw == "mod"
        {
            out.push(name.clone());
        }
    }
    out
}

fn load_module(krate: &mut Crate, path: ModPath, file: PathBuf) {
    let src = std::fs::read_to_string(&file).unwrap_or_default();
    let toks = tokens(&strip_comments_and_strings(&src));
    let fname = file.file_name().unwrap().to_string_lossy().to_string();
    let is_dir_owner = path.is_empty() || fname == "mod.rs";
    let here_dir = module_dir(
        &file,
        is_dir_owner,
        path.last().map(String::as_str).unwrap_or(""),
    );
    // Absolute form of a path as written in this module.
    let absolute = |p: &[String]| -> Option<ModPath> {
        let mut base: ModPath = path.clone();
        let mut rest = p;
        match rest.first().map(String::as_str) {
            Some("crate") => {
                base.clear();
                rest = &rest[1..];
            }
            Some("self") => rest = &rest[1..],
            Some("super") => {
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop()?;
                    rest = &rest[1..];
                }
            }
            _ => return None, // an external crate or a local name
        }
        base.extend(rest.iter().cloned());
        Some(base)
    };
    let mut refs = Vec::new();
    let mut reexports = BTreeMap::new();
    let mut i = 0;
    while i < toks.len() {
        let is_pub = i > 0 && matches!(&toks[i - 1], Tok::Ident(k) if k == "pub")
            || (i > 3 && matches!(&toks[i - 1], Tok::Other) && matches!(&toks[i - 4], Tok::Ident(k) if k == "pub"));
        if let Tok::Ident(kw) = &toks[i]
            && kw == "use"
        {
            i += 1;
            let mut found = Vec::new();
            use_tree(&toks, &mut i, &Vec::new(), &mut found);
            for (p, name) in found {
                // `use x::y` with x a child module of this one is relative too.
                let abs = absolute(&p).or_else(|| {
                    let child = p.first()?;
                    (here_dir.join(format!("{child}.rs")).exists()
                        || here_dir.join(child).join("mod.rs").exists())
                    .then(|| {
                        let mut a = path.clone();
                        a.extend(p.iter().cloned());
                        a
                    })
                });
                if let Some(abs) = abs {
                    if is_pub && let Some(n) = name {
                        reexports.insert(n, abs.clone());
                    }
                    refs.push(abs);
                }
            }
            continue;
        }
        if let Tok::Ident(first) = &toks[i]
            && matches!(first.as_str(), "crate" | "super" | "self")
            && toks.get(i + 1) == Some(&Tok::Sep)
            && !(i > 0 && toks[i - 1] == Tok::Sep)
        {
            let mut p = vec![first.clone()];
            let mut j = i + 1;
            while toks.get(j) == Some(&Tok::Sep) {
                match toks.get(j + 1) {
                    Some(Tok::Ident(id)) => {
                        p.push(id.clone());
                        j += 2;
                    }
                    _ => break,
                }
            }
            if let Some(abs) = absolute(&p) {
                refs.push(abs);
            }
            i = j;
            continue;
        }
        i += 1;
    }
    let children = declared_mods(&toks);
    krate.modules.insert(
        path.clone(),
        Module {
            file: file.clone(),
            reexports,
            refs,
        },
    );
    for child in children {
        let a = here_dir.join(format!("{child}.rs"));
        let b = here_dir.join(&child).join("mod.rs");
        let f = if a.exists() { a } else { b };
        if f.exists() {
            let mut p = path.clone();
            p.push(child);
            load_module(krate, p, f);
        }
    }
}

impl Crate {
    /// The module a path ends in, following re-exports of the last item.
    fn resolve(&self, p: &ModPath, depth: u32) -> ModPath {
        let mut best: ModPath = Vec::new();
        for n in (0..=p.len()).rev() {
            if self.modules.contains_key(&p[..n]) {
                best = p[..n].to_vec();
                break;
            }
        }
        if depth < 8
            && let Some(item) = p.get(best.len())
            && let Some(target) = self.modules[&best].reexports.get(item)
            && target != p
        {
            return self.resolve(target, depth + 1);
        }
        best
    }

    /// For every module: cycles among its children.
    fn cycles(&self) -> Vec<String> {
        let mut problems = Vec::new();
        // Edges between modules.
        let mut edges: BTreeSet<(ModPath, ModPath, PathBuf)> = BTreeSet::new();
        for (from, m) in &self.modules {
            for r in &m.refs {
                let to = self.resolve(r, 0);
                if &to != from {
                    edges.insert((from.clone(), to, m.file.clone()));
                }
            }
        }
        for parent in self.modules.keys() {
            let children: Vec<&ModPath> = self
                .modules
                .keys()
                .filter(|k| k.len() == parent.len() + 1 && k.starts_with(parent))
                .collect();
            if children.len() < 2 {
                continue;
            }
            let idx = |p: &ModPath| {
                children
                    .iter()
                    .position(|c| p.len() > parent.len() && p.starts_with(c))
            };
            let mut adj: Vec<BTreeMap<usize, String>> = vec![BTreeMap::new(); children.len()];
            for (from, to, file) in &edges {
                if let (Some(a), Some(b)) = (idx(from), idx(to))
                    && a != b
                {
                    adj[a]
                        .entry(b)
                        .or_insert_with(|| format!("{} names {}", file.display(), to.join("::")));
                }
            }
            for scc in sccs(&adj) {
                if scc.len() > 1 {
                    let names: Vec<String> = scc.iter().map(|&k| children[k].join("::")).collect();
                    let mut why = Vec::new();
                    for &a in &scc {
                        for (&b, w) in &adj[a] {
                            if scc.contains(&b) {
                                why.push(format!("    {} -> {}: {w}", children[a].join("::"), children[b].join("::")));
                            }
                        }
                    }
                    problems.push(format!(
                        "{}: cycle among {}\n{}",
                        self.root_dir.display(),
                        names.join(", "),
                        why.join("\n")
                    ));
                }
            }
        }
        problems
    }
}

/// Tarjan's strongly connected components.
fn sccs(adj: &[BTreeMap<usize, String>]) -> Vec<Vec<usize>> {
    struct T<'a> {
        adj: &'a [BTreeMap<usize, String>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(t: &mut T, v: usize) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on[v] = true;
        let succ: Vec<usize> = t.adj[v].keys().copied().collect();
        for w in succ {
            match t.index[w] {
                None => {
                    visit(t, w);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(iw) if t.on[w] => t.low[v] = t.low[v].min(iw),
                _ => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            t.out.push(comp);
        }
    }
    let n = adj.len();
    let mut t = T {
        adj,
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            visit(&mut t, v);
        }
    }
    t.out
}

fn crate_roots(src: &Path) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    for f in ["lib.rs", "main.rs"] {
        if src.join(f).exists() {
            roots.push(src.join(f));
        }
    }
    if let Ok(rd) = std::fs::read_dir(src.join("bin")) {
        let mut bins: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        bins.sort();
        roots.extend(bins.into_iter().filter(|p| p.extension().is_some_and(|e| e == "rs")));
    }
    roots
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let srcs: Vec<PathBuf> = if args.is_empty() {
        ["protocol", "edge", "edge/engine", "edge/formats", "host", "hil-tests"]
            .iter()
            .map(|c| PathBuf::from(c).join("src"))
            .collect()
    } else {
        args.iter().map(PathBuf::from).collect()
    };
    let mut problems = Vec::new();
    let mut counted = 0;
    for src in &srcs {
        for root in crate_roots(src) {
            let mut k = Crate {
                root_dir: root.clone(),
                modules: BTreeMap::new(),
            };
            load_module(&mut k, Vec::new(), root);
            counted += k.modules.len();
            problems.extend(k.cycles());
        }
    }
    if problems.is_empty() {
        println!("ok: no import cycles among sibling modules ({counted} modules checked)");
    } else {
        for p in &problems {
            eprintln!("error: {p}");
        }
        std::process::exit(1);
    }
}
