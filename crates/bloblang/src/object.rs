//! [`Object`]: a Bloblang object, its entries kept sorted by key in one vector.
//!
//! Go's `encoding/json` prints map keys sorted by bytes, so sorted storage is
//! print order. One vector instead of a B-tree: message objects are small, so a
//! binary search over contiguous entries beats chasing nodes, and a parsed object
//! costs one allocation for its entries instead of one per node.

use crate::value::Value;
use std::fmt;

/// An object key: up to 24 bytes are held inline, so the short keys of nearly
/// every document cost no allocation.
pub type Key = compact_str::CompactString;

/// An object: unique keys, iterated in byte order.
#[derive(Clone, Default, PartialEq)]
pub struct Object {
    entries: Vec<(Key, Value)>,
}

impl Object {
    /// An empty object.
    pub const fn new() -> Self {
        Object {
            entries: Vec::new(),
        }
    }

    /// An empty object with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        Object {
            entries: Vec::with_capacity(n),
        }
    }

    /// Builds an object from entries in any order; of repeated keys the last
    /// one wins, as when decoding JSON in Go.
    pub fn from_entries(mut entries: Vec<(Key, Value)>) -> Self {
        if !entries.windows(2).all(|w| w[0].0 < w[1].0) {
            // Stable, so repeated keys stay in arrival order for the dedup below.
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.dedup_by(|later, kept| {
                if later.0 == kept.0 {
                    std::mem::swap(&mut later.1, &mut kept.1);
                    true
                } else {
                    false
                }
            });
        }
        Object { entries }
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    /// The value under `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.find(key).ok().map(|i| &mut self.entries[i].1)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Sets `key` to `value`, returning the value it replaces.
    pub fn insert(&mut self, key: impl Into<Key>, value: Value) -> Option<Value> {
        let key = key.into();
        // Appending in order (parsing sorted JSON, building in key order) skips the search.
        if self.entries.last().is_none_or(|(last, _)| *last < key) {
            self.entries.push((key, value));
            return None;
        }
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// The value under `key`, inserting `make()` first when it is absent.
    pub fn get_or_insert_with(&mut self, key: &str, make: impl FnOnce() -> Value) -> &mut Value {
        let i = match self.find(key) {
            Ok(i) => i,
            Err(i) => {
                self.entries.insert(i, (Key::from(key), make()));
                i
            }
        };
        &mut self.entries[i].1
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Keeps the entries `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&Key, &mut Value) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    /// Entries in key order.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.entries.iter())
    }

    /// Entries in key order, values mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Key, &mut Value)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// Keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Key> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    /// Values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    /// Values in key order, mutable.
    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut Value> {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// The values in key order, consuming the object.
    pub fn into_values(self) -> impl DoubleEndedIterator<Item = Value> + ExactSizeIterator {
        self.entries.into_iter().map(|(_, v)| v)
    }

    /// The keys in order, consuming the object.
    pub fn into_keys(self) -> impl DoubleEndedIterator<Item = Key> + ExactSizeIterator {
        self.entries.into_iter().map(|(k, _)| k)
    }
}

/// Borrowing iterator over an [`Object`]'s entries in key order.
#[derive(Clone)]
pub struct Iter<'a>(std::slice::Iter<'a, (Key, Value)>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Key, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (k, v))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Object {
    type Item = (&'a Key, &'a Value);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl IntoIterator for Object {
    type Item = (Key, Value);
    type IntoIter = std::vec::IntoIter<(Key, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<K: Into<Key>> FromIterator<(K, Value)> for Object {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        Object::from_entries(iter.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl<K: Into<Key>, const N: usize> From<[(K, Value); N]> for Object {
    fn from(entries: [(K, Value); N]) -> Self {
        Object::from_iter(entries)
    }
}

impl<K: Into<Key>> Extend<(K, Value)> for Object {
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(pairs: &[(&str, i64)]) -> Object {
        Object::from_entries(
            pairs
                .iter()
                .map(|(k, v)| (Key::from(*k), Value::Int(*v)))
                .collect(),
        )
    }

    #[test]
    fn keys_iterate_in_byte_order_and_the_last_repeat_wins() {
        let o = obj(&[("b", 1), ("a", 2), ("b", 3), ("B", 4), ("a", 5)]);
        let got: Vec<(&str, &Value)> = o.iter().map(|(k, v)| (k.as_str(), v)).collect();
        assert_eq!(
            got,
            [
                ("B", &Value::Int(4)),
                ("a", &Value::Int(5)),
                ("b", &Value::Int(3))
            ]
        );
    }

    #[test]
    fn insert_replaces_or_places_in_order() {
        let mut o = obj(&[("a", 1), ("c", 3)]);
        assert_eq!(o.insert("b", Value::Int(2)), None);
        assert_eq!(o.insert("c", Value::Int(30)), Some(Value::Int(3)));
        assert_eq!(o.insert("d", Value::Int(4)), None);
        let keys: Vec<&str> = o.keys().map(Key::as_str).collect();
        assert_eq!(keys, ["a", "b", "c", "d"]);
        assert_eq!(o.get("c"), Some(&Value::Int(30)));
        assert_eq!(o.remove("a"), Some(Value::Int(1)));
        assert!(!o.contains_key("a"));
        assert_eq!(o.len(), 3);
    }
}
