//! A string interner for the values jobs repeat (repos, senders, label sets, instance types):
//! one copy per distinct string, a 4-byte symbol per use. Symbols are assigned in first-seen
//! order, so folding the same log always yields the same symbols.

use crate::FastMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::Arc;

/// An interned string: its index in the [`Interner`] that issued it (meaningless in another).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Sym(pub u32);

/// Distinct strings and their symbols.
#[derive(Clone, Debug, Default)]
pub struct Interner {
    names: Vec<Arc<str>>,
    ids: FastMap<Arc<str>, Sym>,
    /// Reused buffer for [`Interner::intern_joined`].
    scratch: String,
}

impl Interner {
    /// The symbol of `text`, adding it when new.
    pub fn intern(&mut self, text: &str) -> Sym {
        if let Some(sym) = self.ids.get(text) {
            return *sym;
        }
        let sym = Sym(self.names.len() as u32);
        let name: Arc<str> = Arc::from(text);
        self.names.push(name.clone());
        self.ids.insert(name, sym);
        sym
    }

    /// The symbol of `parts` joined by `separator`, adding it when new (allocating only then).
    pub fn intern_joined(&mut self, parts: &[String], separator: &str) -> Sym {
        let mut joined = std::mem::take(&mut self.scratch);
        joined.clear();
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                joined.push_str(separator);
            }
            joined.push_str(part);
        }
        let sym = self.intern(&joined);
        self.scratch = joined;
        sym
    }

    /// The symbol of `text`, if interned.
    pub fn get(&self, text: &str) -> Option<Sym> {
        self.ids.get(text).copied()
    }

    /// The string of a symbol (empty for a symbol this interner never issued).
    pub fn resolve(&self, sym: Sym) -> &str {
        self.names.get(sym.0 as usize).map_or("", |s| s)
    }

    /// Number of distinct strings.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether nothing is interned.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

impl PartialEq for Interner {
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names
    }
}

impl Eq for Interner {}

impl Serialize for Interner {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.names.iter().map(|s| &**s))
    }
}

impl<'de> Deserialize<'de> for Interner {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names: Vec<String> = Vec::deserialize(deserializer)?;
        let mut interner = Interner::default();
        for name in names {
            interner.intern(&name);
        }
        Ok(interner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once_in_first_seen_order() {
        let mut i = Interner::default();
        assert_eq!(i.intern("octo/hello"), Sym(0));
        assert_eq!(i.intern("alice"), Sym(1));
        assert_eq!(i.intern("octo/hello"), Sym(0));
        assert_eq!(i.resolve(Sym(1)), "alice");
        assert_eq!(i.resolve(Sym(9)), "");
        assert_eq!(i.get("bob"), None);
        let labels = ["self-hosted".to_string(), "linux".to_string()];
        assert_eq!(i.intern_joined(&labels, ", "), Sym(2));
        assert_eq!(i.resolve(Sym(2)), "self-hosted, linux");
        assert_eq!(i.intern_joined(&labels, ", "), Sym(2));
        assert_eq!(i.intern_joined(&[], ", "), Sym(3));
        assert_eq!(i.resolve(Sym(3)), "");
    }
}
