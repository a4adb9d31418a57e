//! `cargo bench --bench space -- [--objects N] [--repetitions R] [--state LIST] [--json]`
//!
//! Two measurements of the connector space, in memory, with no disk:
//!
//! 1. **Layouts** (the micro-benchmark that chose `core::ObjectSpace`): N objects of the
//!    benchmark's directory staged into each candidate layout, then staged again (a second full
//!    import over the same anchors), then looked up one by one, then listed in anchor order; and
//!    the heap bytes each layout holds afterwards, against the objects' encoded size. Every layout
//!    holds the same packed attributes (`PackedAttributes::pack`), so the comparison is of the
//!    layout alone:
//!    - `btree`: `BTreeMap<String, object>`, each object's packing boxed (the layout before
//!      issue 19);
//!    - `interned`: anchors interned once into a `BTreeMap<Box<str>, u32>`, objects in a `Vec`
//!      keyed by that integer, packings boxed;
//!    - `sorted+overlay`: a sorted `Vec` of (anchor, object) rebuilt by merging a `BTreeMap`
//!      overlay every 100,000 changes (a commit point's worth);
//!    - `hash`: std's `HashMap<Box<str>, object>` (SipHash), packings boxed;
//!    - `ObjectSpace`: the layout syncfold uses (anchors end to end, 24-byte entries, one arena of
//!      packings, an open-addressing index of tagged `u64` slots).
//!
//!    Each layout is measured twice: objects in anchor order (as the benchmark's directory serves
//!    them, a `BTreeMap`'s best case) and in a fixed shuffled order (as a directory that returns
//!    entries in creation order would).
//! 2. **State alone** at growing sizes (`--state 1000000,3000000,10000000`): one full import of N
//!    objects folded into a `State` through `decide` and `State::apply`, pages of 1000, built as
//!    they are folded (building is not timed). It prints the fold time per object, the state's
//!    bytes per object as a clone allocates them (as `benches/syncfold.rs` weighs the state) and
//!    the heap the fold holds afterwards (spare capacity of the growing blocks included): all
//!    must stay flat as N grows (linear growth).
//!
//! Every figure is the median of R repetitions (default 3). The last line is one JSON object.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;
use syncfold::core::*;
use syncfold::log::codec;

#[allow(dead_code)]
#[path = "common/directory.rs"]
mod directory;
#[path = "common/flags.rs"]
mod flags;
use flags::Flags;

/// Counts the live heap bytes of the whole process.
struct CountingAllocator;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(pointer, layout) }
    }
    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(pointer, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Reads every anchor listed (so the listing is not optimised away); returns how many.
fn visit<'a>(anchors: impl Iterator<Item = &'a str>) -> usize {
    let mut count = 0;
    for anchor in anchors {
        black_box(anchor);
        count += 1;
    }
    count
}

/// What every layout stores per object.
#[derive(Clone)]
struct Object {
    packed: Box<[u8]>,
    obsolete: bool,
    staged_by: u64,
}

/// One candidate layout of the connector space.
trait Space: Default {
    const NAME: &'static str;
    /// Stages a live object (insert or replace).
    fn stage(&mut self, anchor: &str, run: u64, attributes: &Attributes);
    /// Whether the object is there and live.
    fn live(&self, anchor: &str) -> bool;
    /// Visits every anchor in order; returns how many.
    fn list(&self) -> usize;
    /// Called at a commit point.
    fn commit(&mut self) {}
}

#[derive(Default)]
struct Btree(BTreeMap<String, Object>);

impl Space for Btree {
    const NAME: &'static str = "btree";
    fn stage(&mut self, anchor: &str, run: u64, attributes: &Attributes) {
        let packed = PackedAttributes::pack(attributes).as_bytes().into();
        let object = self.0.entry(anchor.to_owned()).or_insert(Object {
            packed: Box::default(),
            obsolete: true,
            staged_by: run,
        });
        object.packed = packed;
        object.obsolete = false;
        object.staged_by = run;
    }
    fn live(&self, anchor: &str) -> bool {
        self.0.get(anchor).is_some_and(|o| !o.obsolete)
    }
    fn list(&self) -> usize {
        visit(self.0.keys().map(String::as_str))
    }
}

#[derive(Default)]
struct Interned {
    ids: BTreeMap<Box<str>, u32>,
    objects: Vec<Object>,
}

impl Space for Interned {
    const NAME: &'static str = "interned";
    fn stage(&mut self, anchor: &str, run: u64, attributes: &Attributes) {
        let packed: Box<[u8]> = PackedAttributes::pack(attributes).as_bytes().into();
        match self.ids.get(anchor) {
            Some(&id) => {
                let object = &mut self.objects[id as usize];
                object.packed = packed;
                object.obsolete = false;
                object.staged_by = run;
            }
            None => {
                self.ids.insert(anchor.into(), self.objects.len() as u32);
                self.objects.push(Object {
                    packed,
                    obsolete: false,
                    staged_by: run,
                });
            }
        }
    }
    fn live(&self, anchor: &str) -> bool {
        self.ids
            .get(anchor)
            .is_some_and(|&id| !self.objects[id as usize].obsolete)
    }
    fn list(&self) -> usize {
        visit(self.ids.keys().map(|k| &**k))
    }
}

#[derive(Default)]
struct SortedOverlay {
    sorted: Vec<(Box<str>, Object)>,
    overlay: BTreeMap<Box<str>, Object>,
}

impl SortedOverlay {
    fn merge(&mut self) {
        let overlay = std::mem::take(&mut self.overlay);
        let old = std::mem::take(&mut self.sorted);
        let mut merged = Vec::with_capacity(old.len() + overlay.len());
        let mut old = old.into_iter().peekable();
        for (anchor, object) in overlay {
            while old.peek().is_some_and(|(a, _)| *a < anchor) {
                merged.extend(old.next());
            }
            if old.peek().is_some_and(|(a, _)| *a == anchor) {
                old.next();
            }
            merged.push((anchor, object));
        }
        merged.extend(old);
        self.sorted = merged;
    }
}

impl Space for SortedOverlay {
    const NAME: &'static str = "sorted+overlay";
    fn stage(&mut self, anchor: &str, run: u64, attributes: &Attributes) {
        let object = Object {
            packed: PackedAttributes::pack(attributes).as_bytes().into(),
            obsolete: false,
            staged_by: run,
        };
        self.overlay.insert(anchor.into(), object);
        if self.overlay.len() >= 100_000 {
            self.merge();
        }
    }
    fn live(&self, anchor: &str) -> bool {
        if let Some(object) = self.overlay.get(anchor) {
            return !object.obsolete;
        }
        self.sorted
            .binary_search_by(|(a, _)| (**a).cmp(anchor))
            .is_ok_and(|at| !self.sorted[at].1.obsolete)
    }
    fn list(&self) -> usize {
        visit(self.sorted.iter().map(|(k, _)| &**k))
    }
    fn commit(&mut self) {
        self.merge();
    }
}

#[derive(Default)]
struct Hash(HashMap<Box<str>, Object>);

impl Space for Hash {
    const NAME: &'static str = "hash";
    fn stage(&mut self, anchor: &str, run: u64, attributes: &Attributes) {
        let packed = PackedAttributes::pack(attributes).as_bytes().into();
        let object = Object {
            packed,
            obsolete: false,
            staged_by: run,
        };
        match self.0.get_mut(anchor) {
            Some(old) => *old = object,
            None => {
                self.0.insert(anchor.into(), object);
            }
        }
    }
    fn live(&self, anchor: &str) -> bool {
        self.0.get(anchor).is_some_and(|o| !o.obsolete)
    }
    fn list(&self) -> usize {
        let mut keys: Vec<&str> = self.0.keys().map(|k| &**k).collect();
        keys.sort_unstable();
        visit(keys.into_iter())
    }
}

#[derive(Default)]
struct Arena(ObjectSpace);

impl Space for Arena {
    const NAME: &'static str = "ObjectSpace";
    fn stage(&mut self, anchor: &str, run: u64, attributes: &Attributes) {
        self.0.stage_live(anchor, RunId(run), attributes, false);
    }
    fn live(&self, anchor: &str) -> bool {
        self.0.get(anchor).is_some_and(|o| !o.obsolete)
    }
    fn list(&self) -> usize {
        visit(self.0.iter().map(|(k, _)| k))
    }
}

struct LayoutFigures {
    first_ns: f64,
    again_ns: f64,
    lookup_ns: f64,
    list_ms: f64,
    heap_bytes: f64,
}

fn layout<S: Space>(objects: &[ObjectChange]) -> LayoutFigures {
    let n = objects.len() as f64;
    let before = live();
    let mut space = S::default();
    // One full import by `run`, with a commit point every 100,000 objects; ns per object.
    let import = |space: &mut S, run: u64| {
        let start = Instant::now();
        for (i, object) in objects.iter().enumerate() {
            space.stage(object.anchor.as_str(), run, &object.attributes);
            if (i + 1) % 100_000 == 0 {
                space.commit();
            }
        }
        space.commit();
        start.elapsed().as_secs_f64() * 1e9 / n
    };
    let first_ns = import(&mut space, 1);
    let again_ns = import(&mut space, 2);
    let start = Instant::now();
    let found = objects
        .iter()
        .filter(|o| space.live(o.anchor.as_str()))
        .count();
    let lookup_ns = start.elapsed().as_secs_f64() * 1e9 / n;
    assert_eq!(found, objects.len(), "{}: every object is found", S::NAME);
    let start = Instant::now();
    assert_eq!(space.list(), objects.len());
    let list_ms = start.elapsed().as_secs_f64() * 1e3;
    let heap_bytes = (live() - before) as f64;
    drop(space);
    LayoutFigures {
        first_ns,
        again_ns,
        lookup_ns,
        list_ms,
        heap_bytes,
    }
}

/// The objects in a fixed pseudo-random order (Fisher–Yates driven by a 64-bit LCG).
fn shuffle(mut objects: Vec<ObjectChange>) -> Vec<ObjectChange> {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for i in (1..objects.len()).rev() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        objects.swap(i, (seed >> 33) as usize % (i + 1));
    }
    objects
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

struct Args {
    objects: u64,
    repetitions: usize,
    state: Vec<u64>,
    json_only: bool,
}

fn args() -> Args {
    let mut parsed = Args {
        objects: 1_000_000,
        repetitions: 3,
        state: vec![1_000_000, 3_000_000, 10_000_000],
        json_only: false,
    };
    let mut flags = Flags::new(
        "cargo bench --bench space -- [--objects N] [--repetitions R] [--state N,N,…] [--json]",
    );
    while let Some(flag) = flags.next_flag() {
        match flag.as_str() {
            "--json" => parsed.json_only = true,
            "--objects" => parsed.objects = flags.positive(&flag),
            "--repetitions" => parsed.repetitions = flags.positive(&flag) as usize,
            "--state" => parsed.state = flags.positives(&flag),
            _ => flags.unknown(&flag),
        }
    }
    parsed
}

/// One full import of `n` objects folded into a fresh state; returns (seconds, state heap bytes).
fn fold_state(n: u64) -> (f64, f64, f64) {
    let before = live();
    let mut state = State::new();
    let connector = ConnectorName::from("hr");
    let partition = PartitionName::from("people");
    let mut seq = 0u64;
    let start = Instant::now();
    let mut step = |state: &mut State, command: Command| {
        let events = decide(state, command).expect("accepted");
        for event in events {
            seq += 1;
            let envelope = Envelope::new(Timestamp(0), Actor::from_name("bench"), event);
            state.apply(seq, &envelope).expect("folds");
        }
    };
    step(
        &mut state,
        Command::StartRun {
            connector: connector.clone(),
            partition: partition.clone(),
            kind: RunKind::FullImport,
            settings: Settings {
                snapshot_limit: u64::MAX,
                ..Settings::default()
            },
        },
    );
    let run = RunId(1);
    let mut next = 0;
    let mut building = std::time::Duration::ZERO;
    while next < n {
        let end = (next + 1000).min(n);
        let built = Instant::now();
        let page = Page {
            changes: (next..end).map(directory::object).collect(),
            watermark: Some(Watermark::from_text(&end.to_string())),
            ..Page::default()
        };
        building += built.elapsed();
        step(&mut state, Command::RecordPage { run, page });
        next = end;
    }
    step(&mut state, Command::EndRun { run });
    // The pages are built as they are folded, but only deciding and folding are timed.
    let seconds = (start.elapsed() - building).as_secs_f64();
    // The state's size as a clone allocates it (no spare capacity), as `benches/syncfold.rs`
    // weighs it; the live heap after the fold (spare capacity included) is the second figure.
    let held = (live() - before) as f64;
    let counted = live();
    let copy = state.clone();
    let bytes = (live() - counted) as f64;
    drop(copy);
    let part = state
        .partition(&connector, &partition)
        .expect("the partition");
    assert_eq!(part.live_objects(), n, "every object is staged");
    drop(state);
    (seconds, bytes, held)
}

fn main() {
    let args = args();
    let objects: Vec<ObjectChange> = (0..args.objects).map(directory::object).collect();
    let encoded: f64 = objects
        .iter()
        .map(|o| codec::encode_change(o).map_or(0, |b| b.len()) as f64)
        .sum();
    let say = |line: String| {
        if !args.json_only {
            println!("{line}");
        }
    };
    say(format!(
        "layouts: {} objects ({:.0} encoded bytes each), median of {}",
        args.objects,
        encoded / args.objects as f64,
        args.repetitions
    ));
    say(format!(
        "{:<22} {:>12} {:>12} {:>12} {:>12} {:>14} {:>10}",
        "layout", "stage ns/obj", "again ns/obj", "lookup ns", "list ms", "heap B/obj", "× encoded"
    ));
    let mut json = Vec::new();
    let mut run_layout = |name: &str, measure: &dyn Fn() -> LayoutFigures| {
        let samples: Vec<LayoutFigures> = (0..args.repetitions).map(|_| measure()).collect();
        let pick = |f: &dyn Fn(&LayoutFigures) -> f64| median(samples.iter().map(f).collect());
        let (first, again, lookup, list, heap) = (
            pick(&|s| s.first_ns),
            pick(&|s| s.again_ns),
            pick(&|s| s.lookup_ns),
            pick(&|s| s.list_ms),
            pick(&|s| s.heap_bytes),
        );
        let per_object = heap / args.objects as f64;
        say(format!(
            "{name:<22} {first:>12.0} {again:>12.0} {lookup:>12.0} {list:>12.1} {per_object:>14.1} {:>10.2}",
            heap / encoded
        ));
        json.push(format!(
            "\"{}\":{{\"stage_ns\":{first:.0},\"stage_again_ns\":{again:.0},\"lookup_ns\":{lookup:.0},\"list_ms\":{list:.1},\"heap_bytes_per_object\":{per_object:.1},\"vs_encoded\":{:.3}}}",
            name.replace(['+', ' '], "_"),
            heap / encoded
        ));
    };
    run_layout(Btree::NAME, &|| layout::<Btree>(&objects));
    run_layout(Interned::NAME, &|| layout::<Interned>(&objects));
    run_layout(SortedOverlay::NAME, &|| layout::<SortedOverlay>(&objects));
    run_layout(Hash::NAME, &|| layout::<Hash>(&objects));
    run_layout(Arena::NAME, &|| layout::<Arena>(&objects));
    let shuffled = shuffle(objects);
    run_layout("btree shuffled", &|| layout::<Btree>(&shuffled));
    run_layout("interned shuffled", &|| layout::<Interned>(&shuffled));
    run_layout("hash shuffled", &|| layout::<Hash>(&shuffled));
    run_layout("ObjectSpace shuffled", &|| layout::<Arena>(&shuffled));
    drop(shuffled);

    say(String::new());
    say("state alone: one full import folded in memory (decide + apply), no disk".to_owned());
    say(format!(
        "{:>12} {:>10} {:>12} {:>14} {:>14} {:>16}",
        "objects", "fold s", "ns/object", "state MB", "B/object", "held B/object"
    ));
    let mut state_json = Vec::new();
    for &n in &args.state {
        let repetitions = if n >= 5_000_000 { 1 } else { args.repetitions };
        let samples: Vec<(f64, f64, f64)> = (0..repetitions).map(|_| fold_state(n)).collect();
        let seconds = median(samples.iter().map(|s| s.0).collect());
        let bytes = median(samples.iter().map(|s| s.1).collect());
        let held = median(samples.iter().map(|s| s.2).collect());
        say(format!(
            "{n:>12} {seconds:>10.2} {:>12.0} {:>14.1} {:>14.1} {:>16.1}",
            seconds * 1e9 / n as f64,
            bytes / 1e6,
            bytes / n as f64,
            held / n as f64
        ));
        state_json.push(format!(
            "{{\"objects\":{n},\"fold_ms\":{:.0},\"fold_ns_per_object\":{:.0},\"state_bytes\":{bytes:.0},\"state_bytes_per_object\":{:.1},\"held_bytes_per_object\":{:.1}}}",
            seconds * 1e3,
            seconds * 1e9 / n as f64,
            bytes / n as f64,
            held / n as f64
        ));
    }
    println!(
        "{{\"objects\":{},\"encoded_bytes_per_object\":{:.1},\"layouts\":{{{}}},\"state_alone\":[{}]}}",
        args.objects,
        encoded / args.objects as f64,
        json.join(","),
        state_json.join(",")
    );
}
