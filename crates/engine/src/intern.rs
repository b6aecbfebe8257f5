//! String interning for dimension values: cases and aggregate keys hold 4-byte symbols.

use crate::fasthash::FastMap;

/// An interned string. `Sym::EMPTY` is "".
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Sym(pub u32);

impl Sym {
    pub const EMPTY: Sym = Sym(0);
}

#[derive(Debug, Clone)]
pub struct Interner {
    map: FastMap<Box<str>, Sym>,
    strings: Vec<Box<str>>,
}

impl Default for Interner {
    fn default() -> Interner {
        let mut i = Interner {
            map: FastMap::default(),
            strings: vec!["".into()],
        };
        i.map.insert("".into(), Sym::EMPTY);
        i
    }
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> Sym {
        if s.is_empty() {
            return Sym::EMPTY;
        }
        if let Some(&sym) = self.map.get(s) {
            return sym;
        }
        let sym = Sym(self.strings.len() as u32);
        self.strings.push(s.into());
        self.map.insert(s.into(), sym);
        sym
    }

    pub fn get(&self, sym: Sym) -> &str {
        self.strings.get(sym.0 as usize).map_or("", |s| s)
    }

    /// All strings in symbol order (for snapshots).
    pub fn strings(&self) -> &[Box<str>] {
        &self.strings
    }

    /// For every symbol, the rank of its string in byte-wise order (equal strings cannot occur).
    pub fn ranks(&self) -> Vec<u32> {
        let mut idx: Vec<u32> = (0..self.strings.len() as u32).collect();
        idx.sort_unstable_by(|&a, &b| self.strings[a as usize].cmp(&self.strings[b as usize]));
        let mut rank = vec![0u32; idx.len()];
        for (r, &i) in idx.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        rank
    }
}
