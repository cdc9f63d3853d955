//! The library's public surface, recorded in `crates/xuequ/public-api.txt` so that every change
//! to it shows up in review.
//!
//! The test parses the sources from `src/lib.rs`, follows `mod` declarations (skipping
//! `#[cfg(test)]` modules and what only `#[cfg(feature = "internals")]` makes public) and
//! `pub use` re-exports, and lists every item a user of the crate can
//! name: modules, functions with their signatures, structs with their public fields, enums with
//! their variants, traits, constants, statics, type aliases, the public methods of inherent
//! impls and the trait impls of public types. Items that are `pub(crate)`, `pub(super)` or
//! private, or `pub` inside a private module and not re-exported, are not listed. An item
//! re-exported under several paths is listed in full under one (its definition path when that
//! is reachable) and as `re-export` under the others.
//!
//! On a difference the test fails with a diff; after checking that the change is meant, record
//! the new surface with `XUEQU_BLESS=1 cargo test -p xuequ --test public_api`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use quote::ToTokens;

/// One module of the crate, as parsed.
struct Module {
    /// Path segments from the crate root (`["xuequ", "zoning"]`).
    path: Vec<String>,
    /// True when every `mod` from the root down to this one is `pub`.
    public: bool,
    /// Child modules by name (index into `Crate::modules`), with whether the `mod` is `pub`.
    children: BTreeMap<String, (usize, bool)>,
    /// Items defined here (not modules, not impls).
    items: Vec<syn::Item>,
    /// `use` declarations: imported name, target path, whether `pub`, whether a glob.
    uses: Vec<Use>,
    /// Impl blocks found here.
    impls: Vec<syn::ItemImpl>,
}

struct Use {
    name: String,
    target: Vec<String>,
    public: bool,
    glob: bool,
}

struct Crate {
    modules: Vec<Module>,
}

/// What a path names once `use` chains are followed.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Target {
    /// A module (index).
    Module(usize),
    /// An item defined in a module: (module index, item name).
    Item(usize, String),
    /// Something outside the crate, as written.
    External(String),
}

fn is_pub(vis: &syn::Visibility) -> bool {
    matches!(vis, syn::Visibility::Public(_))
}

/// Items that are not part of the surface a user builds against: `#[cfg(test)]` code, and
/// what only the `internals` feature (for the workspace's own tests and benches) makes public.
fn cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && {
            let text = a.meta.to_token_stream().to_string().replace(' ', "");
            text == "cfg(test)" || text == "cfg(feature=\"internals\")"
        }
    })
}

fn doc_hidden(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .any(|a| a.path().is_ident("doc") && a.meta.to_token_stream().to_string().replace(' ', "") == "doc(hidden)")
}

/// The attributes that change what users can do with an item: derives, `non_exhaustive`,
/// `doc(hidden)`, `repr`, `cfg` and `must_use`; documentation and lint attributes are left out.
fn marks(attrs: &[syn::Attribute]) -> String {
    let mut out = String::new();
    for a in attrs {
        let p = a.path();
        if p.is_ident("derive")
            || p.is_ident("non_exhaustive")
            || p.is_ident("repr")
            || p.is_ident("cfg")
            || p.is_ident("must_use")
            || (p.is_ident("doc") && doc_hidden(std::slice::from_ref(a)))
        {
            out.push_str(" #[");
            out.push_str(&tidy(&a.meta.to_token_stream().to_string()));
            out.push(']');
        }
    }
    out
}

/// Token text with the spacing a person would write (`Vec<String>`, `&self`, `a::b`).
fn tidy(tokens: &str) -> String {
    let mut s = tokens.to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" ::", "::"),
        ("& ", "&"),
        (" < ", "<"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        (" ,", ","),
        (" ;", ";"),
        ("( ", "("),
        (" )", ")"),
        ("[ ", "["),
        (" ]", "]"),
        (" : ", ": "),
        (" ?", "?"),
        ("# [", "#["),
        ("! [", "!["),
        (" !", "!"),
        (" . ", "."),
    ] {
        while s.contains(from) {
            s = s.replace(from, to);
        }
    }
    s = s.replace(",)", ")").replace(",>", ">").replace(", }", " }");
    // `-> X` and `=> X` lost their leading space through `" >"` above.
    s = s.replace("->", " -> ").replace("=>", " => ");
    while s.contains("  ") {
        s = s.replace("  ", " ");
    }
    call_parentheses(&s).trim_end_matches(',').to_string()
}

/// `name (` to `name(`, keeping the space after keywords (`for (A, B)`, `dyn (…)`).
fn call_parentheses(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        // `fn name<T> (` to `fn name<T>(`, but not `-> (A, B)`.
        if c == ' ' && chars.get(i + 1) == Some(&'(') && out.ends_with('>') && !out.ends_with("->") {
            continue;
        }
        if c == ' ' && chars.get(i + 1) == Some(&'(') {
            let word: String = out
                .chars()
                .rev()
                .take_while(|c: &char| c.is_alphanumeric() || *c == '_')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let keyword = matches!(word.as_str(), "for" | "in" | "mut" | "dyn" | "impl" | "as" | "where");
            if !word.is_empty() && !keyword {
                continue;
            }
        }
        out.push(c);
    }
    out
}

fn tokens(t: &impl ToTokens) -> String {
    tidy(&t.to_token_stream().to_string())
}

/// The source file of `mod name;` declared in the module whose file is `file`.
fn module_file(file: &Path, is_mod_rs: bool, name: &str) -> PathBuf {
    let dir = if is_mod_rs {
        file.parent().expect("a source file has a directory").to_path_buf()
    } else {
        let stem = file.file_stem().expect("a source file has a name");
        file.parent().expect("a source file has a directory").join(stem)
    };
    let flat = dir.join(format!("{name}.rs"));
    if flat.exists() {
        flat
    } else {
        dir.join(name).join("mod.rs")
    }
}

impl Crate {
    fn load(lib: &Path) -> Crate {
        let mut krate = Crate { modules: Vec::new() };
        let text = std::fs::read_to_string(lib).expect("src/lib.rs is readable");
        let file = syn::parse_file(&text).expect("src/lib.rs parses");
        krate.add_module(vec!["xuequ".to_string()], true, file.items, lib, true);
        krate
    }

    fn add_module(
        &mut self,
        path: Vec<String>,
        public: bool,
        items: Vec<syn::Item>,
        file: &Path,
        is_mod_rs: bool,
    ) -> usize {
        let index = self.modules.len();
        self.modules.push(Module {
            path: path.clone(),
            public,
            children: BTreeMap::new(),
            items: Vec::new(),
            uses: Vec::new(),
            impls: Vec::new(),
        });
        for item in items {
            match item {
                syn::Item::Mod(m) => {
                    if cfg_test(&m.attrs) {
                        continue;
                    }
                    let name = m.ident.to_string();
                    let mut child_path = path.clone();
                    child_path.push(name.clone());
                    let child_pub = public && is_pub(&m.vis) && !doc_hidden(&m.attrs);
                    let child = if let Some((_, inline)) = m.content {
                        // An inline module: its own `mod x;` children live in a folder named
                        // after it, like a non-mod.rs file's.
                        let pseudo = module_file(file, is_mod_rs, &name).with_extension("rs");
                        self.add_module(child_path, child_pub, inline, &pseudo, false)
                    } else {
                        let child_file = module_file(file, is_mod_rs, &name);
                        let text = std::fs::read_to_string(&child_file)
                            .unwrap_or_else(|e| panic!("{}: {e}", child_file.display()));
                        let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", child_file.display()));
                        let child_is_mod_rs = child_file.file_name().is_some_and(|n| n == "mod.rs");
                        self.add_module(child_path, child_pub, parsed.items, &child_file, child_is_mod_rs)
                    };
                    self.modules[index].children.insert(name, (child, is_pub(&m.vis)));
                }
                syn::Item::Use(u) => {
                    if cfg_test(&u.attrs) {
                        continue;
                    }
                    let mut out = Vec::new();
                    flatten_use(&u.tree, Vec::new(), is_pub(&u.vis), &mut out);
                    self.modules[index].uses.extend(out);
                }
                syn::Item::Impl(i) => {
                    if !cfg_test(&i.attrs) {
                        self.modules[index].impls.push(i);
                    }
                }
                other => {
                    if !cfg_test(item_attrs(&other)) {
                        self.modules[index].items.push(other);
                    }
                }
            }
        }
        index
    }

    fn parent(&self, module: usize) -> usize {
        let path = &self.modules[module].path;
        self.find_module(&path[..path.len() - 1])
            .expect("a module's parent exists")
    }

    fn find_module(&self, path: &[String]) -> Option<usize> {
        self.modules.iter().position(|m| m.path == path)
    }

    /// Resolves `segments` as written in `module`, following `use` chains.
    fn resolve(&self, module: usize, segments: &[String], depth: usize) -> Target {
        let external = || Target::External(segments.join("::"));
        if depth > 32 || segments.is_empty() {
            return external();
        }
        let (mut at, rest) = match segments[0].as_str() {
            "crate" => (0, &segments[1..]),
            "self" => (module, &segments[1..]),
            "super" => (self.parent(module), &segments[1..]),
            _ => (module, segments),
        };
        let mut rest = rest;
        // Leading `super::super::…`.
        while rest.first().is_some_and(|s| s == "super") {
            at = self.parent(at);
            rest = &rest[1..];
        }
        if rest.is_empty() {
            return Target::Module(at);
        }
        for (i, seg) in rest.iter().enumerate() {
            let last = i + 1 == rest.len();
            match self.name_in(at, seg, depth) {
                Some(Target::Module(m)) => {
                    if last {
                        return Target::Module(m);
                    }
                    at = m;
                }
                Some(Target::Item(m, name)) => {
                    // An enum variant or an associated item below an item: name the item.
                    return if last { Target::Item(m, name) } else { external() };
                }
                Some(Target::External(path)) => {
                    let mut full = vec![path];
                    full.extend(rest[i + 1..].iter().cloned());
                    return Target::External(full.join("::"));
                }
                None => return external(),
            }
        }
        external()
    }

    /// What `name` means inside `module`: a child module, an item, or an import.
    fn name_in(&self, module: usize, name: &str, depth: usize) -> Option<Target> {
        let m = &self.modules[module];
        if let Some((child, _)) = m.children.get(name) {
            return Some(Target::Module(*child));
        }
        if m.items.iter().any(|i| item_name(i).as_deref() == Some(name)) {
            return Some(Target::Item(module, name.to_string()));
        }
        if let Some(u) = m.uses.iter().find(|u| !u.glob && u.name == name) {
            return Some(self.resolve(module, &u.target, depth + 1));
        }
        for u in m.uses.iter().filter(|u| u.glob) {
            if let Target::Module(g) = self.resolve(module, &u.target, depth + 1)
                && g != module
                && let Some(t) = self.name_in(g, name, depth + 1)
            {
                return Some(t);
            }
        }
        None
    }

    /// Every path under which a user can name something: definitions in public modules and
    /// `pub use` re-exports from public modules.
    fn public_names(&self) -> BTreeMap<Target, BTreeSet<Vec<String>>> {
        let mut names: BTreeMap<Target, BTreeSet<Vec<String>>> = BTreeMap::new();
        for (index, m) in self.modules.iter().enumerate() {
            if !m.public {
                continue;
            }
            for item in &m.items {
                if item_public(item)
                    && let Some(name) = item_name(item)
                {
                    let mut path = m.path.clone();
                    path.push(name.clone());
                    names.entry(Target::Item(index, name)).or_default().insert(path);
                }
            }
            for u in m.uses.iter().filter(|u| u.public) {
                if u.glob {
                    if let Target::Module(g) = self.resolve(index, &u.target, 0) {
                        for item in self.modules[g].items.iter().filter(|i| item_public(i)) {
                            if let Some(name) = item_name(item) {
                                let mut path = m.path.clone();
                                path.push(name.clone());
                                names.entry(Target::Item(g, name)).or_default().insert(path);
                            }
                        }
                    }
                    continue;
                }
                let mut path = m.path.clone();
                path.push(u.name.clone());
                names.entry(self.resolve(index, &u.target, 0)).or_default().insert(path);
            }
        }
        names
    }

    fn listing(&self) -> String {
        let names = self.public_names();
        // The path an item is listed under: its definition path when users can name it there,
        // else the shortest re-export.
        let primary = |t: &Target| -> Option<Vec<String>> {
            let paths = names.get(t)?;
            if let Target::Item(m, name) = t {
                let mut def = self.modules[*m].path.clone();
                def.push(name.clone());
                if paths.contains(&def) {
                    return Some(def);
                }
            }
            paths.iter().min_by_key(|p| (p.len(), (*p).clone())).cloned()
        };
        let mut lines = BTreeSet::new();
        for m in self.modules.iter().filter(|m| m.public) {
            lines.insert(format!("{} mod", m.path.join("::")));
        }
        for (target, paths) in &names {
            if let Target::External(outside) = target {
                for p in paths {
                    lines.insert(format!("{} re-export of {outside}", p.join("::")));
                }
                continue;
            }
            let Some(main) = primary(target) else { continue };
            let main_text = main.join("::");
            for p in paths.iter().filter(|p| **p != main) {
                lines.insert(format!("{} re-export of {main_text}", p.join("::")));
            }
            if let Target::Item(m, name) = target {
                let item = self.modules[*m]
                    .items
                    .iter()
                    .find(|i| item_name(i).as_deref() == Some(name.as_str()))
                    .expect("a named item exists");
                describe(item, &main_text, &mut lines);
            }
        }
        // Impl blocks, wherever they are, add to the public types they are for.
        for (index, m) in self.modules.iter().enumerate() {
            for imp in &m.impls {
                let syn::Type::Path(self_ty) = &*imp.self_ty else {
                    continue;
                };
                let segments: Vec<String> = self_ty.path.segments.iter().map(|s| s.ident.to_string()).collect();
                let target = self.resolve(index, &segments, 0);
                let Some(main) = primary(&target) else { continue };
                let owner = main.join("::");
                let generics = if imp.generics.params.is_empty() {
                    String::new()
                } else {
                    tokens(&imp.generics)
                };
                if let Some((_, trait_path, _)) = &imp.trait_ {
                    lines.insert(format!(
                        "{owner} impl{generics} {} for {}",
                        tokens(trait_path),
                        tokens(&imp.self_ty)
                    ));
                    continue;
                }
                for item in &imp.items {
                    match item {
                        syn::ImplItem::Fn(f) if is_pub(&f.vis) && !cfg_test(&f.attrs) => {
                            lines.insert(format!(
                                "{owner}::{}{}{}{}",
                                f.sig.ident,
                                generics_note(&generics),
                                marks(&f.attrs),
                                signature(&f.sig)
                            ));
                        }
                        syn::ImplItem::Const(c) if is_pub(&c.vis) => {
                            lines.insert(format!(
                                "{owner}::{} const: {} = {}",
                                c.ident,
                                tokens(&c.ty),
                                tokens(&c.expr)
                            ));
                        }
                        syn::ImplItem::Type(t) if is_pub(&t.vis) => {
                            lines.insert(format!("{owner}::{} type = {}", t.ident, tokens(&t.ty)));
                        }
                        _ => {}
                    }
                }
            }
        }
        let mut out = String::new();
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
        out
    }
}

fn generics_note(generics: &str) -> String {
    if generics.is_empty() {
        String::new()
    } else {
        format!(" (in impl{generics})")
    }
}

/// ` fn name<T>(args) -> R where …`, without the visibility.
fn signature(sig: &syn::Signature) -> String {
    format!(" {}", tokens(sig))
}

fn describe(item: &syn::Item, path: &str, lines: &mut BTreeSet<String>) {
    match item {
        syn::Item::Fn(f) => {
            lines.insert(format!("{path}{}{}", marks(&f.attrs), signature(&f.sig)));
        }
        syn::Item::Struct(s) => {
            let mut private = false;
            for (i, field) in s.fields.iter().enumerate() {
                if !is_pub(&field.vis) {
                    private = true;
                    continue;
                }
                let name = field.ident.as_ref().map_or_else(|| i.to_string(), ToString::to_string);
                lines.insert(format!("{path}::{name} field: {}", tokens(&field.ty)));
            }
            let shape = match s.fields {
                syn::Fields::Named(_) => "",
                syn::Fields::Unnamed(_) => " (tuple)",
                syn::Fields::Unit => " (unit)",
            };
            lines.insert(format!(
                "{path} struct{}{}{shape}{}",
                tokens(&s.generics),
                marks(&s.attrs),
                if private { " (private fields)" } else { "" }
            ));
        }
        syn::Item::Enum(e) => {
            lines.insert(format!("{path} enum{}{}", tokens(&e.generics), marks(&e.attrs)));
            for v in &e.variants {
                let fields = match &v.fields {
                    syn::Fields::Unit => String::new(),
                    syn::Fields::Unnamed(f) => {
                        let types: Vec<String> = f.unnamed.iter().map(|x| tokens(&x.ty)).collect();
                        format!("({})", types.join(", "))
                    }
                    syn::Fields::Named(f) => {
                        let named: Vec<String> = f
                            .named
                            .iter()
                            .map(|x| {
                                format!(
                                    "{}: {}",
                                    x.ident.as_ref().map(ToString::to_string).unwrap_or_default(),
                                    tokens(&x.ty)
                                )
                            })
                            .collect();
                        format!(" {{ {} }}", named.join(", "))
                    }
                };
                lines.insert(format!("{path}::{} variant{}{fields}", v.ident, marks(&v.attrs)));
            }
        }
        syn::Item::Trait(t) => {
            let supertraits = if t.supertraits.is_empty() {
                String::new()
            } else {
                format!(": {}", tokens(&t.supertraits))
            };
            lines.insert(format!(
                "{path} trait{}{supertraits}{}",
                tokens(&t.generics),
                marks(&t.attrs)
            ));
            for ti in &t.items {
                match ti {
                    syn::TraitItem::Fn(f) => {
                        let default = if f.default.is_some() { " (provided)" } else { "" };
                        lines.insert(format!("{path}::{} trait{}{default}", f.sig.ident, signature(&f.sig)));
                    }
                    syn::TraitItem::Type(ty) => {
                        lines.insert(format!("{path}::{} trait-type{}", ty.ident, tokens(&ty.bounds)));
                    }
                    syn::TraitItem::Const(c) => {
                        lines.insert(format!("{path}::{} trait-const: {}", c.ident, tokens(&c.ty)));
                    }
                    _ => {}
                }
            }
        }
        syn::Item::Const(c) => {
            lines.insert(format!("{path} const: {} = {}", tokens(&c.ty), tokens(&c.expr)));
        }
        syn::Item::Static(s) => {
            lines.insert(format!("{path} static: {}", tokens(&s.ty)));
        }
        syn::Item::Type(t) => {
            lines.insert(format!("{path} type{} = {}", tokens(&t.generics), tokens(&t.ty)));
        }
        syn::Item::Macro(_) => {
            lines.insert(format!("{path} macro"));
        }
        _ => {}
    }
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Union(i) => &i.attrs,
        _ => &[],
    }
}

fn item_name(item: &syn::Item) -> Option<String> {
    Some(match item {
        syn::Item::Const(i) => i.ident.to_string(),
        syn::Item::Enum(i) => i.ident.to_string(),
        syn::Item::Fn(i) => i.sig.ident.to_string(),
        syn::Item::Macro(i) => i.ident.as_ref()?.to_string(),
        syn::Item::Static(i) => i.ident.to_string(),
        syn::Item::Struct(i) => i.ident.to_string(),
        syn::Item::Trait(i) => i.ident.to_string(),
        syn::Item::Type(i) => i.ident.to_string(),
        syn::Item::Union(i) => i.ident.to_string(),
        _ => return None,
    })
}

/// Public: `pub` (not `pub(crate)`), or a `#[macro_export]` macro.
fn item_public(item: &syn::Item) -> bool {
    match item {
        syn::Item::Const(i) => is_pub(&i.vis),
        syn::Item::Enum(i) => is_pub(&i.vis),
        syn::Item::Fn(i) => is_pub(&i.vis),
        syn::Item::Macro(i) => i.attrs.iter().any(|a| a.path().is_ident("macro_export")),
        syn::Item::Static(i) => is_pub(&i.vis),
        syn::Item::Struct(i) => is_pub(&i.vis),
        syn::Item::Trait(i) => is_pub(&i.vis),
        syn::Item::Type(i) => is_pub(&i.vis),
        syn::Item::Union(i) => is_pub(&i.vis),
        _ => false,
    }
}

fn flatten_use(tree: &syn::UseTree, prefix: Vec<String>, public: bool, out: &mut Vec<Use>) {
    match tree {
        syn::UseTree::Path(p) => {
            let mut next = prefix;
            next.push(p.ident.to_string());
            flatten_use(&p.tree, next, public, out);
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            let mut target = prefix.clone();
            if name == "self" {
                let Some(last) = prefix.last() else { return };
                out.push(Use {
                    name: last.clone(),
                    target,
                    public,
                    glob: false,
                });
                return;
            }
            target.push(name.clone());
            out.push(Use {
                name,
                target,
                public,
                glob: false,
            });
        }
        syn::UseTree::Rename(r) => {
            let mut target = prefix.clone();
            if r.ident != "self" {
                target.push(r.ident.to_string());
            }
            out.push(Use {
                name: r.rename.to_string(),
                target,
                public,
                glob: false,
            });
        }
        syn::UseTree::Glob(_) => out.push(Use {
            name: String::new(),
            target: prefix,
            public,
            glob: true,
        }),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                flatten_use(t, prefix.clone(), public, out);
            }
        }
    }
}

/// A line diff, enough to read in a test failure: lines only in the record, then lines only in
/// the sources.
fn diff(recorded: &str, current: &str) -> String {
    let old: BTreeSet<&str> = recorded.lines().collect();
    let new: BTreeSet<&str> = current.lines().collect();
    let mut out = String::new();
    for line in old.difference(&new) {
        let _ = writeln!(out, "- {line}");
    }
    for line in new.difference(&old) {
        let _ = writeln!(out, "+ {line}");
    }
    out
}

#[test]
fn public_surface_matches_the_record() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let current = Crate::load(&root.join("src/lib.rs")).listing();
    let record = root.join("public-api.txt");
    if std::env::var_os("XUEQU_BLESS").is_some() {
        std::fs::write(&record, &current).expect("public-api.txt is writable");
        return;
    }
    let recorded = std::fs::read_to_string(&record).unwrap_or_default();
    assert!(
        recorded == current,
        "the public surface of the xuequ crate changed (- recorded, + now):\n{}\n\
         If the change is meant, record it: XUEQU_BLESS=1 cargo test -p xuequ --test public_api \
         and commit crates/xuequ/public-api.txt.",
        diff(&recorded, &current)
    );
}

/// The walker itself: `pub(crate)`, private modules, `cfg(test)` modules and re-exports.
#[test]
fn the_walker_lists_what_users_can_name_and_nothing_else() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let src = dir.path();
    std::fs::write(
        src.join("lib.rs"),
        "pub mod open; mod hidden; #[cfg(test)] mod tests; pub use hidden::Shown as Renamed;\n\
         pub use open::inner::*; #[cfg(feature = \"internals\")] pub mod hidden2;\n\
         #[cfg(not(feature = \"internals\"))] pub(crate) mod hidden2;",
    )
    .expect("write");
    std::fs::create_dir(src.join("open")).expect("mkdir");
    std::fs::write(
        src.join("open/mod.rs"),
        "pub mod inner; pub struct A { pub x: u32, y: u32 } pub(crate) fn internal() {}\n\
         impl A { pub fn new(x: u32) -> Self { A { x, y: 0 } } fn private(&self) {} }\n\
         impl std::fmt::Display for A { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { Ok(()) } }",
    )
    .expect("write");
    std::fs::write(
        src.join("open/inner.rs"),
        "#[non_exhaustive] pub enum E { One, Two(u8) } pub const C: u8 = 3;",
    )
    .expect("write");
    std::fs::write(
        src.join("hidden.rs"),
        "pub struct Shown; pub struct NotShown; impl Shown { pub fn go(&self) {} }",
    )
    .expect("write");
    std::fs::write(src.join("tests.rs"), "this is not parsed").expect("write");
    std::fs::write(src.join("hidden2.rs"), "pub fn internal_only() {}").expect("write");
    let listing = Crate::load(&src.join("lib.rs")).listing();
    let expected = "\
xuequ mod
xuequ::C re-export of xuequ::open::inner::C
xuequ::E re-export of xuequ::open::inner::E
xuequ::Renamed struct (unit)
xuequ::Renamed::go fn go(&self)
xuequ::open mod
xuequ::open::A impl std::fmt::Display for A
xuequ::open::A struct (private fields)
xuequ::open::A::new fn new(x: u32) -> Self
xuequ::open::A::x field: u32
xuequ::open::inner mod
xuequ::open::inner::C const: u8 = 3
xuequ::open::inner::E enum #[non_exhaustive]
xuequ::open::inner::E::One variant
xuequ::open::inner::E::Two variant(u8)
";
    assert_eq!(listing, expected, "{}", diff(expected, &listing));
}

/// The other parts of the workspace, by the name the usage report gives them.
const CONSUMERS: &[(&str, &str)] = &[
    ("cli", "crates/xuequ-cli/src"),
    ("cli-tests", "crates/xuequ-cli/tests"),
    ("py", "crates/xuequ-py/src"),
    ("synth", "crates/xuequ-synth/src"),
    ("suite", "tests"),
    ("benches", "benches"),
    ("fixtures", "src"),
    ("lib-tests", "crates/xuequ/tests"),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("public_api.rs") {
            // This file's own examples are not uses.
            out.push(path);
        }
    }
}

/// Every `xuequ::…` path a source text names, `use` groups expanded
/// (`xuequ::zoning::{self, Demand}` gives `xuequ::zoning` and `xuequ::zoning::Demand`).
fn xuequ_paths(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("xuequ::") {
        let start = from + found;
        from = start + "xuequ::".len();
        if start > 0 && (ident(bytes[start - 1]) || bytes[start - 1] == b':') {
            continue;
        }
        // Segments, then possibly a `{…}` group.
        let mut end = from;
        loop {
            let seg_start = end;
            while end < bytes.len() && ident(bytes[end]) {
                end += 1;
            }
            if end > seg_start && text[end..].starts_with("::") && !text[end + 2..].starts_with('<') {
                end += 2;
                continue;
            }
            break;
        }
        if bytes.get(end) == Some(&b'{') {
            let mut depth = 0;
            let mut close = end;
            for (i, b) in bytes[end..].iter().enumerate() {
                match b {
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            close = end + i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            if let Ok(item) = syn::parse_str::<syn::ItemUse>(&format!("use {};", &text[start..=close])) {
                let mut uses = Vec::new();
                flatten_use(&item.tree, Vec::new(), false, &mut uses);
                out.extend(uses.into_iter().filter(|u| !u.glob).map(|u| u.target.join("::")));
            }
            from = close.max(from);
            continue;
        }
        let path = text[start..end].trim_end_matches("::");
        out.push(path.to_string());
    }
    out
}

/// A report for narrowing the surface to what other crates need: for every public path the
/// rest of the workspace names, who names it, and the public modules nobody outside the
/// library names. Run it with
/// `cargo test -p xuequ --test public_api -- --ignored --nocapture usage`.
#[test]
#[ignore = "a report, not a check: run with --ignored --nocapture"]
fn usage_outside_the_library() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = root.join("../..");
    let krate = Crate::load(&root.join("src/lib.rs"));
    let mut used: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for (name, dir) in CONSUMERS {
        let mut files = Vec::new();
        rust_files(&workspace.join(dir), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for path in xuequ_paths(&text) {
                used.entry(path).or_default().insert(name);
            }
        }
    }
    let mut report = String::new();
    let _ = writeln!(report, "# paths named outside the library, and by whom");
    for (path, who) in &used {
        let _ = writeln!(
            report,
            "{path}  <- {}",
            who.iter().copied().collect::<Vec<_>>().join(", ")
        );
    }
    let _ = writeln!(report, "\n# public modules, and who names them or anything in them");
    for m in krate.modules.iter().filter(|m| m.public && m.path.len() > 1) {
        let prefix = m.path.join("::");
        let mut who: BTreeSet<&str> = BTreeSet::new();
        for (path, users) in &used {
            if path == &prefix || path.starts_with(&format!("{prefix}::")) {
                who.extend(users.iter().copied());
            }
        }
        let users = if who.is_empty() {
            "nobody outside the library".to_string()
        } else {
            who.into_iter().collect::<Vec<_>>().join(", ")
        };
        let _ = writeln!(report, "{prefix}  <- {users}");
    }
    println!("{report}");
}

#[test]
fn paths_named_in_source_text_are_found_with_use_groups_expanded() {
    let text = "use xuequ::zoning::{self, Demand, io::{csv::CsvWriter}};\n\
                let x = xuequ::flow::FlowError::Unbounded; my_xuequ::no; xuequ::allocate(&d);\n\
                xuequ::risk::lottery_risk::<u8>(1);";
    assert_eq!(
        xuequ_paths(text),
        [
            "xuequ::zoning",
            "xuequ::zoning::Demand",
            "xuequ::zoning::io::csv::CsvWriter",
            "xuequ::flow::FlowError::Unbounded",
            "xuequ::allocate",
            "xuequ::risk::lottery_risk",
        ]
    );
}
