//! Attributes packed into one byte string: how the connector space holds an object.
//!
//! A map of strings costs a tree node and several allocations per object; a partition of a
//! million objects would then take about eight times the size of its log. The connector space
//! keeps each object's attributes as one canonical byte string instead and unpacks them only when
//! someone looks (views, exports converted to adds, diffs).
//!
//! Layout, entries in name order: `name_len name tag` then, for tag 0 (single), `len value`, and for
//! tag 1 (multi), `count` followed by `len value` per value. Lengths and counts are LEB128. The
//! packing is canonical: equal attributes pack to equal bytes, so comparing packed bytes compares
//! attributes.

use super::model::{AttributeValue, Attributes};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

const SINGLE: u8 = 0;
const MULTI: u8 = 1;

/// An object's attributes in the connector space, packed (see the module documentation).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PackedAttributes(Box<[u8]>);

impl PackedAttributes {
    /// Packs `attributes`.
    pub fn pack(attributes: &Attributes) -> Self {
        let mut out = Vec::with_capacity(packed_len(attributes));
        pack_into(attributes, &mut out);
        PackedAttributes(out.into_boxed_slice())
    }

    /// The attributes, unpacked.
    pub fn unpack(&self) -> Attributes {
        unpack(&self.0)
    }

    /// A borrowed view of the packed bytes.
    pub fn as_packed_ref(&self) -> PackedRef<'_> {
        PackedRef(&self.0)
    }

    /// Packed attributes from bytes a [`PackedRef`] or `as_bytes` gave.
    pub fn from_packed_ref(packed: PackedRef<'_>) -> Self {
        PackedAttributes(packed.0.into())
    }

    /// Whether there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The packed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether `bytes` is a packing `pack` could have made: entries well formed, UTF-8, names
    /// strictly ascending. Decoding a snapshot checks this, so `unpack` never meets anything else.
    pub fn is_well_formed(bytes: &[u8]) -> bool {
        let mut previous: Option<&str> = None;
        let mut ordered = true;
        let complete = read(bytes, |name, _, _| {
            ordered &= previous.is_none_or(|before| before < name);
            previous = Some(name);
        });
        complete && ordered
    }
}

/// Appends the packing of `attributes` to `out` (the connector space packs into its arena).
pub(crate) fn pack_into(attributes: &Attributes, out: &mut Vec<u8>) {
    for (name, value) in &attributes.0 {
        put_str(out, name);
        match value {
            AttributeValue::Single(text) => {
                out.push(SINGLE);
                put_str(out, text);
            }
            AttributeValue::Multi(values) => {
                out.push(MULTI);
                put_len(out, values.len());
                for text in values {
                    put_str(out, text);
                }
            }
        }
    }
}

/// The attributes packed in `bytes`. Bytes that are not a complete packing (only a damaged
/// snapshot that still passed its checksum could hold such) give the entries before the damage.
fn unpack(bytes: &[u8]) -> Attributes {
    let mut attributes = Attributes::new();
    let _ = read(bytes, |name, tag, mut values| {
        let value = if tag == SINGLE {
            AttributeValue::Single(values.next().unwrap_or_default().to_owned())
        } else {
            AttributeValue::Multi(values.map(str::to_owned).collect())
        };
        attributes.0.insert(name.to_owned(), value);
    });
    attributes
}

/// Packed attributes borrowed from the connector space, which holds every object's packing in
/// one arena ([`crate::core::ObjectSpace`]). Equal packings are equal attributes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PackedRef<'a>(pub(crate) &'a [u8]);

impl<'a> PackedRef<'a> {
    /// The attributes, unpacked.
    pub fn unpack(&self) -> Attributes {
        unpack(self.0)
    }

    /// Whether there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The packed bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

impl fmt::Debug for PackedRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.unpack(), f)
    }
}

impl fmt::Debug for PackedAttributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.unpack(), f)
    }
}

fn packed_len(attributes: &Attributes) -> usize {
    attributes
        .0
        .iter()
        .map(|(name, value)| {
            2 + name.len()
                + match value {
                    AttributeValue::Single(text) => 1 + text.len(),
                    AttributeValue::Multi(values) => {
                        1 + values.iter().map(|text| 1 + text.len()).sum::<usize>()
                    }
                }
        })
        .sum()
}

/// Appends `len` as LEB128 (the connector space prefixes each packing with it too).
pub(super) fn put_len(out: &mut Vec<u8>, mut len: usize) {
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_len(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

struct Cursor<'a> {
    bytes: &'a [u8],
}

/// The LEB128 length at `at` in `bytes`, and how many bytes it took; `None` when it runs past the
/// end or does not fit a `usize`.
pub(super) fn read_len(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (i, shift) in (0..usize::BITS).step_by(7).enumerate() {
        let byte = *bytes.get(at + i)?;
        value |= usize::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

impl<'a> Cursor<'a> {
    fn len(&mut self) -> Option<usize> {
        let (value, used) = read_len(self.bytes, 0)?;
        self.bytes = &self.bytes[used..];
        Some(value)
    }

    fn tag(&mut self) -> Option<u8> {
        let (&tag, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(tag)
    }

    fn text(&mut self) -> Option<&'a str> {
        let len = self.len()?;
        if len > self.bytes.len() {
            return None;
        }
        let (text, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        std::str::from_utf8(text).ok()
    }
}

/// The values of one entry, read from bytes `read` already checked.
struct Values<'a> {
    cursor: Cursor<'a>,
    left: usize,
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        self.left = self.left.checked_sub(1)?;
        self.cursor.text()
    }
}

/// Visits every entry as its name, its tag and its values (one for a single value), borrowed from
/// `bytes` without allocating; false when the bytes are not a complete packing.
fn read<'a>(bytes: &'a [u8], mut each: impl FnMut(&'a str, u8, Values<'a>)) -> bool {
    let mut cursor = Cursor { bytes };
    while !cursor.bytes.is_empty() {
        let entry = (|| {
            let name = cursor.text()?;
            let tag = cursor.tag()?;
            let count = match tag {
                SINGLE => 1,
                MULTI => cursor.len()?,
                _ => return None,
            };
            let start = cursor.bytes;
            for _ in 0..count {
                cursor.text()?;
            }
            let values = Values {
                cursor: Cursor {
                    bytes: &start[..start.len() - cursor.bytes.len()],
                },
                left: count,
            };
            Some((name, tag, values))
        })();
        match entry {
            Some((name, tag, values)) => each(name, tag, values),
            None => return false,
        }
    }
    true
}

impl Serialize for PackedAttributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for PackedAttributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let ByteBlock(bytes) = ByteBlock::deserialize(deserializer)?;
        if PackedAttributes::is_well_formed(&bytes) {
            Ok(PackedAttributes(bytes.into_boxed_slice()))
        } else {
            Err(de::Error::custom("malformed packed attributes"))
        }
    }
}

/// A byte block, encoded as bytes (one length, then the bytes) and not as a list of numbers:
/// a packing, or one of the connector space's blocks.
pub(super) struct ByteBlock(pub(super) Vec<u8>);

/// Bytes to encode as a [`ByteBlock`], borrowed (a snapshot encodes the connector space's blocks
/// without copying them first).
pub(super) struct BytesRef<'a>(pub(super) &'a [u8]);

impl Serialize for BytesRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteBlock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Block;

        impl<'de> Visitor<'de> for Block {
            type Value = ByteBlock;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }

            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<ByteBlock, E> {
                Ok(ByteBlock(bytes.to_vec()))
            }

            fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<ByteBlock, E> {
                Ok(ByteBlock(bytes))
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<ByteBlock, A::Error> {
                let mut bytes = Vec::new();
                while let Some(byte) = seq.next_element::<u8>()? {
                    bytes.push(byte);
                }
                Ok(ByteBlock(bytes))
            }
        }

        deserializer.deserialize_byte_buf(Block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn sample() -> Attributes {
        Attributes(BTreeMap::from([
            ("cn".to_owned(), AttributeValue::Single("Ada".to_owned())),
            (
                "member".to_owned(),
                AttributeValue::Multi(vec!["b".repeat(200), String::new(), "ü".to_owned()]),
            ),
            ("z".to_owned(), AttributeValue::Multi(Vec::new())),
        ]))
    }

    #[test]
    fn packing_round_trips_and_is_canonical() {
        let attributes = sample();
        let packed = PackedAttributes::pack(&attributes);
        assert_eq!(packed.unpack(), attributes);
        assert_eq!(PackedAttributes::pack(&packed.unpack()), packed);
        assert!(PackedAttributes::is_well_formed(packed.as_bytes()));
        assert!(PackedAttributes::pack(&Attributes::new()).is_empty());
    }

    #[test]
    fn malformed_bytes_are_refused() {
        let packed = PackedAttributes::pack(&sample());
        let bytes = packed.as_bytes();
        let entries: Vec<_> = sample().0.into_iter().collect();
        for cut in 1..bytes.len() {
            let cut_bytes = &bytes[..cut];
            if PackedAttributes::is_well_formed(cut_bytes) {
                // Only a cut between two entries is a packing: of the entries before it.
                let kept: Vec<_> = PackedAttributes(cut_bytes.into())
                    .unpack()
                    .0
                    .into_iter()
                    .collect();
                assert_eq!(kept[..], entries[..kept.len()], "a packing cut at {cut}");
            }
        }
        let mut bad_tag = bytes.to_vec();
        bad_tag[3] = 7;
        assert!(!PackedAttributes::is_well_formed(&bad_tag));
        let unordered = [1, b'b', 0, 0, 1, b'a', 0, 0];
        assert!(!PackedAttributes::is_well_formed(&unordered));
        let not_utf8 = [1, 0xff, 0, 0];
        assert!(!PackedAttributes::is_well_formed(&not_utf8));
        let huge_length = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert!(!PackedAttributes::is_well_formed(&huge_length));
    }
}
