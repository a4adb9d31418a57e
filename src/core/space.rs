//! The connector space: every object of a partition, laid out for speed and memory.
//!
//! A partition can hold millions of objects, and a full import stages each of them once per run.
//! The connector space was a `BTreeMap<Anchor, StagedObject>`: per object an ordered insert of a
//! heap-allocated anchor and a boxed packing, about 300 ns and 2× the encoded size. It is now
//! four flat blocks (the micro-benchmark in `benches/space.rs` compared the layouts; the numbers
//! are in `docs/PERFORMANCE.md`):
//!
//! - `anchors`: every anchor, in the order the objects were first staged, end to end in one
//!   string. Anchors never change and objects are never removed, so this block only grows.
//! - `entries`: per object, where its anchor ends, where its packed attributes start (the top bit
//!   is the obsolete flag) and the run that staged it last. 24 bytes.
//! - `values`: each object's packed attributes ([`super::packed`]) behind a LEB128 length. A
//!   change appends a new packing; the old one becomes garbage, counted, and the block is compacted
//!   (rewritten in entry order) once garbage is more than half of it.
//! - `slots`: an open-addressing hash table (linear probing, at most ¾ full). A slot holds 32 bits
//!   of a fixed hash of the anchor (which also pick its home slot) above the entry's number + 1,
//!   so a probe rejects another anchor without reading it, and growing the table reads no anchor.
//!
//! Everything here is a function of the history: the same events in the same order give the same
//! four blocks, byte for byte ([R14](crate::rules#r14)), with no randomness (the hash is fixed)
//! and no dependence on when a snapshot was taken. A snapshot therefore stores the blocks as they
//! are ([`super::State`]'s encoding), and opening copies them back and checks their bounds in one
//! pass instead of decoding a million objects. Equality ([`PartialEq`]) compares the objects,
//! not the layout.
//!
//! Readers see the objects through [`ObjectSpace::get`] and [`ObjectSpace::iter`] (anchor
//! order, as before) or [`ObjectSpace::iter_unordered`] (staging order, without sorting). The
//! staging methods are public so that a space can be built and measured on its own
//! (`benches/space.rs`); a [`super::State`] only lends its spaces out shared, so only the fold
//! changes them.

use super::model::{Attributes, RunId};
use super::packed::{
    pack_into, put_len, read_len, ByteBlock as Bytes, BytesRef, PackedAttributes, PackedRef,
};
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The obsolete flag, kept in the top bit of an entry's value position.
const OBSOLETE: u64 = 1 << 63;
/// Garbage below this is never worth a compaction.
const COMPACT_MIN: u64 = 1 << 20;
/// Bytes per entry in the encoding.
const ENTRY_BYTES: usize = 24;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    /// End of the anchor in `anchors` (it starts where the previous entry's ends).
    anchor_end: u64,
    /// Start of the packing's length in `values`, with [`OBSOLETE`] as the top bit.
    value_at: u64,
    /// The run that staged it last.
    staged_by: u64,
}

impl Entry {
    fn value_at(&self) -> usize {
        (self.value_at & !OBSOLETE) as usize
    }

    fn obsolete(&self) -> bool {
        self.value_at & OBSOLETE != 0
    }
}

/// The objects of one partition's connector space (see the module documentation).
#[derive(Clone, Default)]
pub struct ObjectSpace {
    anchors: String,
    entries: Vec<Entry>,
    values: Vec<u8>,
    slots: Vec<u64>,
    garbage: u64,
}

/// One object of the connector space, borrowed from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectRef<'a> {
    /// Its attributes as staged, packed (`unpack` to read).
    pub attributes: PackedRef<'a>,
    /// Deleted in the source, or not seen by a clean full import.
    pub obsolete: bool,
    /// The run that staged it last: a full import's obsoletion marks the live objects it did not
    /// stage.
    pub staged_by: RunId,
}

impl ObjectRef<'_> {
    /// An owned copy.
    pub fn to_owned(&self) -> StagedObject {
        StagedObject {
            attributes: PackedAttributes::from_packed_ref(self.attributes),
            obsolete: self.obsolete,
            staged_by: self.staged_by,
        }
    }
}

/// An object of the connector space as last imported, owned (what [`ObjectRef::to_owned`]
/// gives, for a caller that keeps objects beyond the state's lifetime).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagedObject {
    /// Its attributes as staged, packed (`unpack` to read).
    pub attributes: PackedAttributes,
    /// Deleted in the source, or not seen by a clean full import.
    pub obsolete: bool,
    /// The run that staged it last.
    pub staged_by: RunId,
}

impl ObjectSpace {
    /// How many objects, obsolete ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the space holds no object.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The object with this anchor.
    pub fn get(&self, anchor: impl AsRef<str>) -> Option<ObjectRef<'_>> {
        self.find(anchor.as_ref()).map(|index| self.object(index))
    }

    /// Whether an object with this anchor is in the space.
    pub fn contains(&self, anchor: impl AsRef<str>) -> bool {
        self.find(anchor.as_ref()).is_some()
    }

    /// Every object in anchor order (sorts the space: use [`ObjectSpace::iter_unordered`] to
    /// count or filter).
    pub fn iter(&self) -> impl Iterator<Item = (&str, ObjectRef<'_>)> + '_ {
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        order.sort_unstable_by(|&a, &b| self.anchor(a).cmp(self.anchor(b)));
        order
            .into_iter()
            .map(move |index| (self.anchor(index), self.object(index)))
    }

    /// Every object in the order it was first staged.
    pub fn iter_unordered(&self) -> impl Iterator<Item = (&str, ObjectRef<'_>)> + '_ {
        (0..self.entries.len()).map(move |index| (self.anchor(index), self.object(index)))
    }

    /// Stages a live object (add or update) by `run`. With `merge` (an update) its attributes are
    /// laid over those staged before, else they replace them. Returns whether it was live before.
    pub fn stage_live(
        &mut self,
        anchor: &str,
        run: RunId,
        attributes: &Attributes,
        merge: bool,
    ) -> bool {
        match self.probe(anchor) {
            Ok(index) => {
                let entry = self.entries[index];
                let old = self.value(index);
                let old_len = self.record_len(index) as u64;
                let at = self.values.len();
                if merge && !old.is_empty() {
                    let mut merged = PackedRef(old).unpack();
                    merged.overlay(attributes);
                    self.push_value(&merged);
                } else {
                    self.push_value(attributes);
                }
                self.garbage += old_len;
                self.entries[index] = Entry {
                    anchor_end: entry.anchor_end,
                    value_at: at as u64,
                    staged_by: run.0,
                };
                self.compact_if_due();
                !entry.obsolete()
            }
            Err(slot) => {
                self.anchors.push_str(anchor);
                let at = self.values.len();
                self.push_value(attributes);
                self.entries.push(Entry {
                    anchor_end: self.anchors.len() as u64,
                    value_at: at as u64,
                    staged_by: run.0,
                });
                // `probe` grew the table first, so the slot is free. (Entry numbers are 32 bits:
                // 4 billion objects, far beyond any memory this runs in.)
                self.slots[slot] |= self.entries.len() as u64;
                false
            }
        }
    }

    /// Stages a deletion by `run`: the object turns obsolete and keeps its attributes. Returns
    /// whether it was live before; `None` when the space does not hold it.
    pub fn stage_deleted(&mut self, anchor: &str, run: RunId) -> Option<bool> {
        let index = self.find(anchor)?;
        let entry = &mut self.entries[index];
        let was_live = !entry.obsolete();
        entry.value_at |= OBSOLETE;
        entry.staged_by = run.0;
        Some(was_live)
    }

    /// Marks an object obsolete (obsoletion); returns whether it was live before.
    pub fn mark_obsolete(&mut self, anchor: &str) -> bool {
        match self.find(anchor) {
            Some(index) => {
                let entry = &mut self.entries[index];
                let was_live = !entry.obsolete();
                entry.value_at |= OBSOLETE;
                was_live
            }
            None => false,
        }
    }

    fn object(&self, index: usize) -> ObjectRef<'_> {
        let entry = self.entries[index];
        ObjectRef {
            attributes: PackedRef(self.value(index)),
            obsolete: entry.obsolete(),
            staged_by: RunId(entry.staged_by),
        }
    }

    fn anchor(&self, index: usize) -> &str {
        let start = match index {
            0 => 0,
            _ => self.entries[index - 1].anchor_end as usize,
        };
        let end = self.entries[index].anchor_end as usize;
        // Bounds and character boundaries are checked when a snapshot is decoded.
        self.anchors.get(start..end).unwrap_or_default()
    }

    /// The packing of entry `index` (empty if the bounds were damaged, which decoding refuses).
    fn value(&self, index: usize) -> &[u8] {
        value_in(&self.values, self.entries[index].value_at()).unwrap_or_default()
    }

    /// The packing of entry `index` with its length prefix, in bytes.
    fn record_len(&self, index: usize) -> usize {
        let at = self.entries[index].value_at();
        match read_len(&self.values, at) {
            Some((len, prefix)) => len + prefix,
            None => 0,
        }
    }

    fn push_value(&mut self, attributes: &Attributes) {
        let start = self.values.len();
        self.values.push(0);
        pack_into(attributes, &mut self.values);
        let len = self.values.len() - start - 1;
        if len < 0x80 {
            self.values[start] = len as u8;
        } else {
            let mut prefix = Vec::with_capacity(10);
            put_len(&mut prefix, len);
            self.values.splice(start..start + 1, prefix);
        }
    }

    fn compact_if_due(&mut self) {
        if self.garbage < COMPACT_MIN || self.garbage * 2 < self.values.len() as u64 {
            return;
        }
        let mut values = Vec::with_capacity(self.values.len() - self.garbage as usize);
        for index in 0..self.entries.len() {
            let at = self.entries[index].value_at();
            let len = self.record_len(index);
            let new_at = values.len() as u64;
            values.extend_from_slice(self.values.get(at..at + len).unwrap_or_default());
            let entry = &mut self.entries[index];
            entry.value_at = new_at | (entry.value_at & OBSOLETE);
        }
        self.values = values;
        self.garbage = 0;
    }

    fn find(&self, anchor: &str) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let tag = tag_of(anchor);
        let mask = self.slots.len() - 1;
        let mut at = tag as usize & mask;
        // The table is never full (at most ¾, checked on decode), so an empty slot ends the
        // probe; the bound only guards a damaged table.
        for _ in 0..self.slots.len() {
            let slot = self.slots[at];
            if slot == 0 {
                return None;
            }
            if (slot >> 32) as u32 == tag {
                let index = (slot as u32) as usize - 1;
                if index < self.entries.len() && self.anchor(index) == anchor {
                    return Some(index);
                }
            }
            at = (at + 1) & mask;
        }
        None
    }

    /// The entry holding `anchor`, or the empty slot it would take, already tagged (the table
    /// grown first when a new entry could fill it past ¾).
    fn probe(&mut self, anchor: &str) -> Result<usize, usize> {
        if (self.entries.len() + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let tag = tag_of(anchor);
        let mask = self.slots.len() - 1;
        let mut at = tag as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                self.slots[at] = u64::from(tag) << 32;
                return Err(at);
            }
            if (slot >> 32) as u32 == tag {
                let index = (slot as u32) as usize - 1;
                if index < self.entries.len() && self.anchor(index) == anchor {
                    return Ok(index);
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// Doubles the table; each slot's tag is its home, so no anchor is read.
    fn grow(&mut self) {
        let capacity = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![0; capacity]);
        let mask = capacity - 1;
        for slot in old.into_iter().filter(|&slot| slot != 0) {
            let mut at = (slot >> 32) as usize & mask;
            while self.slots[at] != 0 {
                at = (at + 1) & mask;
            }
            self.slots[at] = slot;
        }
    }
}

/// The 32 bits of an anchor's hash that a slot keeps: its home slot and its filter.
fn tag_of(anchor: &str) -> u32 {
    (hash(anchor.as_bytes()) >> 32) as u32
}

/// A fixed 64-bit hash of an anchor (word-at-a-time multiply and rotate, then a final mix so the
/// low bits, which pick the slot, depend on every byte). Fixed, so the layout is a function of
/// the history; anchors chosen to collide slow lookups down but cannot change a result.
fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut w = [0; 8];
        w.copy_from_slice(word);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut w = [0; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    h ^= h >> 32;
    h = h.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^ (h >> 29)
}

fn value_in(values: &[u8], at: usize) -> Option<&[u8]> {
    let (len, prefix) = read_len(values, at)?;
    values.get(at + prefix..(at + prefix).checked_add(len)?)
}

impl PartialEq for ObjectSpace {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter_unordered()
                .all(|(anchor, object)| other.get(anchor) == Some(object))
    }
}

impl Eq for ObjectSpace {}

impl fmt::Debug for ObjectSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a ObjectSpace {
    type Item = (&'a str, ObjectRef<'a>);
    type IntoIter = Box<dyn Iterator<Item = (&'a str, ObjectRef<'a>)> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

// The encoding is the layout: the four blocks as bytes (entries and slots little-endian), then
// the garbage count. Decoding copies the blocks and checks, in one pass over the entries, that
// every anchor and packing lies inside its block: nothing is decoded object by object.

impl Serialize for ObjectSpace {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries = Vec::with_capacity(self.entries.len() * ENTRY_BYTES);
        for entry in &self.entries {
            entries.extend_from_slice(&entry.anchor_end.to_le_bytes());
            entries.extend_from_slice(&entry.value_at.to_le_bytes());
            entries.extend_from_slice(&entry.staged_by.to_le_bytes());
        }
        let mut slots = Vec::with_capacity(self.slots.len() * 8);
        for slot in &self.slots {
            slots.extend_from_slice(&slot.to_le_bytes());
        }
        let mut out = serializer.serialize_struct("ObjectSpace", 5)?;
        out.serialize_field("anchors", &BytesRef(self.anchors.as_bytes()))?;
        out.serialize_field("entries", &BytesRef(&entries))?;
        out.serialize_field("values", &BytesRef(&self.values))?;
        out.serialize_field("slots", &BytesRef(&slots))?;
        out.serialize_field("garbage", &self.garbage)?;
        out.end()
    }
}

impl<'de> Deserialize<'de> for ObjectSpace {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Space;

        impl<'de> Visitor<'de> for Space {
            type Value = ObjectSpace;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a connector space")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ObjectSpace, A::Error> {
                let mut next = |what: &'static str| -> Result<Vec<u8>, A::Error> {
                    seq.next_element::<Bytes>()?
                        .map(|bytes| bytes.0)
                        .ok_or_else(|| de::Error::custom(format!("connector space: no {what}")))
                };
                let anchors = next("anchors")?;
                let entries = next("entries")?;
                let values = next("values")?;
                let slots = next("slots")?;
                let garbage = seq
                    .next_element::<u64>()?
                    .ok_or_else(|| de::Error::custom("connector space: no garbage count"))?;
                ObjectSpace::from_blocks(anchors, &entries, values, &slots, garbage)
                    .map_err(|what| de::Error::custom(format!("connector space: {what}")))
            }
        }

        deserializer.deserialize_struct(
            "ObjectSpace",
            &["anchors", "entries", "values", "slots", "garbage"],
            Space,
        )
    }
}

impl ObjectSpace {
    /// The space from its encoded blocks, every bound checked (see the encoding above).
    fn from_blocks(
        anchors: Vec<u8>,
        entries: &[u8],
        values: Vec<u8>,
        slots: &[u8],
        garbage: u64,
    ) -> Result<Self, String> {
        let anchors = String::from_utf8(anchors).map_err(|_| "an anchor is not UTF-8")?;
        if !entries.len().is_multiple_of(ENTRY_BYTES) || !slots.len().is_multiple_of(8) {
            return Err("a block's length is not a whole number of items".into());
        }
        let word = |bytes: &[u8], at: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(w)
        };
        let mut parsed = Vec::with_capacity(entries.len() / ENTRY_BYTES);
        let mut anchor_start = 0u64;
        for item in entries.chunks_exact(ENTRY_BYTES) {
            let entry = Entry {
                anchor_end: word(item, 0),
                value_at: word(item, 8),
                staged_by: word(item, 16),
            };
            if entry.anchor_end < anchor_start
                || entry.anchor_end > anchors.len() as u64
                || !anchors.is_char_boundary(entry.anchor_end as usize)
            {
                return Err(format!(
                    "object {} has an anchor out of bounds",
                    parsed.len()
                ));
            }
            if value_in(&values, entry.value_at()).is_none() {
                return Err(format!(
                    "object {} has attributes out of bounds",
                    parsed.len()
                ));
            }
            anchor_start = entry.anchor_end;
            parsed.push(entry);
        }
        if anchor_start != anchors.len() as u64 {
            return Err("anchors left over after the last object".into());
        }
        let slots: Vec<u64> = slots.chunks_exact(8).map(|s| word(s, 0)).collect();
        let occupied = slots.iter().filter(|&&slot| slot != 0).count();
        let capacity_ok = match slots.len() {
            0 => parsed.is_empty(),
            n => n.is_power_of_two() && parsed.len() * 4 <= n * 3,
        };
        if !capacity_ok
            || occupied != parsed.len()
            || slots
                .iter()
                .any(|&slot| slot != 0 && (slot as u32 == 0 || slot as u32 as usize > parsed.len()))
        {
            return Err("the anchor index does not match the objects".into());
        }
        if garbage > values.len() as u64 {
            return Err("more garbage than attribute bytes".into());
        }
        Ok(ObjectSpace {
            anchors,
            entries: parsed,
            values,
            slots,
            garbage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::AttributeValue;
    use std::collections::BTreeMap;

    fn attrs(pairs: &[(&str, &str)]) -> Attributes {
        let mut a = Attributes::new();
        for (name, value) in pairs {
            a.0.insert(
                (*name).to_owned(),
                AttributeValue::Single((*value).to_owned()),
            );
        }
        a
    }

    /// The space against a `BTreeMap` model, through growth, updates, compaction and a round
    /// trip of the encoding.
    #[test]
    fn agrees_with_a_map_through_growth_updates_and_compaction() {
        let mut space = ObjectSpace::default();
        let mut model: BTreeMap<String, (Attributes, bool, u64)> = BTreeMap::new();
        let big = "x".repeat(300);
        for round in 0..6u64 {
            for i in 0..20_000u64 {
                let anchor = format!("uid=u{:05},ou=people", (i * 7919 + round) % 25_000);
                let value = if i % 3 == 0 { big.as_str() } else { "v" };
                let a = attrs(&[("cn", value), ("r", &round.to_string())]);
                match (i + round) % 5 {
                    0 => {
                        let was = space.stage_deleted(&anchor, RunId(round));
                        let expected = model.get_mut(&anchor).map(|m| {
                            let live = !m.1;
                            m.1 = true;
                            m.2 = round;
                            live
                        });
                        assert_eq!(was, expected);
                    }
                    1 => {
                        let was = space.stage_live(&anchor, RunId(round), &a, true);
                        let m = model.entry(anchor).or_insert((Attributes::new(), true, 0));
                        assert_eq!(was, !m.1);
                        m.0.overlay(&a);
                        m.1 = false;
                        m.2 = round;
                    }
                    _ => {
                        let was = space.stage_live(&anchor, RunId(round), &a, false);
                        let m = model.entry(anchor).or_insert((Attributes::new(), true, 0));
                        assert_eq!(was, !m.1);
                        *m = (a, false, round);
                    }
                }
            }
            assert!(space.garbage * 2 < space.values.len() as u64 || space.garbage < COMPACT_MIN);
            let decoded: ObjectSpace = bincode::serde::decode_from_slice(
                &bincode::serde::encode_to_vec(&space, bincode::config::standard()).unwrap(),
                bincode::config::standard(),
            )
            .unwrap()
            .0;
            assert_eq!(decoded.entries, space.entries);
            assert_eq!(decoded.slots, space.slots);
            assert_eq!(decoded, space);
        }
        assert_eq!(space.len(), model.len());
        let listed: Vec<(String, Attributes, bool, u64)> = space
            .iter()
            .map(|(a, o)| {
                (
                    a.to_owned(),
                    o.attributes.unpack(),
                    o.obsolete,
                    o.staged_by.0,
                )
            })
            .collect();
        let expected: Vec<(String, Attributes, bool, u64)> = model
            .into_iter()
            .map(|(a, (attributes, obsolete, run))| (a, attributes, obsolete, run))
            .collect();
        assert_eq!(listed, expected);
    }

    #[test]
    fn damaged_blocks_are_refused_not_trusted() {
        let mut space = ObjectSpace::default();
        for i in 0..100 {
            space.stage_live(&format!("u{i}"), RunId(1), &attrs(&[("cn", "x")]), false);
        }
        let encode = |s: &ObjectSpace| {
            bincode::serde::encode_to_vec(s, bincode::config::standard()).unwrap()
        };
        let decode = |bytes: &[u8]| {
            bincode::serde::decode_from_slice::<ObjectSpace, _>(bytes, bincode::config::standard())
        };
        let mut broken = space.clone();
        broken.entries[5].value_at = 1 << 40;
        assert!(decode(&encode(&broken)).is_err());
        let mut broken = space.clone();
        broken.entries[7].anchor_end = 1;
        assert!(decode(&encode(&broken)).is_err());
        let mut broken = space.clone();
        broken.slots.truncate(broken.slots.len() / 2);
        assert!(decode(&encode(&broken)).is_err());
        let mut broken = space.clone();
        broken.garbage = u64::MAX;
        assert!(decode(&encode(&broken)).is_err());
        assert_eq!(decode(&encode(&space)).unwrap().0, space);
    }

    #[test]
    fn equality_is_of_objects_not_of_layout() {
        let mut a = ObjectSpace::default();
        let mut b = ObjectSpace::default();
        a.stage_live("x", RunId(1), &attrs(&[("cn", "1")]), false);
        a.stage_live("y", RunId(1), &attrs(&[("cn", "2")]), false);
        b.stage_live("y", RunId(1), &attrs(&[("cn", "2")]), false);
        b.stage_live("x", RunId(1), &attrs(&[("cn", "0")]), false);
        assert_ne!(a, b);
        b.stage_live("x", RunId(1), &attrs(&[("cn", "1")]), false);
        assert_eq!(a, b);
    }
}
