//! The rules of SPEC.md as values, and the two typed errors that name them: a [`Violation`] when the
//! fold refuses an event, a [`Rejection`] when the decider refuses a command.
//!
//! Each refusal condition is a variant of [`EventRefusal`] or [`CommandRefusal`]
//! (`refusal.rs`); the rule and the message follow from it.

use super::model::Seq;
use super::refusal::{CommandRefusal, EventRefusal};
use std::fmt;

/// A rule of SPEC.md that an event or a command can break.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// A watermark never advances past an error ([R1](crate::rules#r1)).
    R1,
    /// Full imports commit only when clean, and only then clear `full-import-required`
    /// ([R2](crate::rules#r2)).
    R2,
    /// Obsoletion only at the end of a clean full import ([R3](crate::rules#r3)).
    R3,
    /// The accidental-deletion guard ([R4](crate::rules#r4)).
    R4,
    /// A broken delta change log requires a full import ([R5](crate::rules#r5)).
    R5,
    /// The stuck-watermark warning ([R6](crate::rules#r6)).
    R6,
    /// Object-level errors ([R7](crate::rules#r7)).
    R7,
    /// Faults ([R8](crate::rules#r8)).
    R8,
    /// Transient errors become permanent ([R9](crate::rules#r9)).
    R9,
    /// Alert walls ([R10](crate::rules#r10)).
    R10,
    /// Run limits ([R11](crate::rules#r11)).
    R11,
    /// Log integrity and format versions ([R12](crate::rules#r12)).
    R12,
    /// Durability and recovery ([R13](crate::rules#r13)).
    R13,
    /// Determinism ([R14](crate::rules#r14)).
    R14,
    /// Events must fit the runs they name: known, open, in order ([R15](crate::rules#r15)).
    R15,
    /// Export rules ([exports](crate::rules#exports)).
    Exports,
    /// Run statuses ([statuses](crate::rules#statuses)).
    Statuses,
}

impl Rule {
    /// The rule's reference in SPEC.md (`R1`, `SPEC §4`): for the docs and JSON `rule` fields,
    /// never for an operator's text, which names a rule by its [`summary`](Self::summary).
    pub fn code(self) -> &'static str {
        match self {
            Rule::R1 => "R1",
            Rule::R2 => "R2",
            Rule::R3 => "R3",
            Rule::R4 => "R4",
            Rule::R5 => "R5",
            Rule::R6 => "R6",
            Rule::R7 => "R7",
            Rule::R8 => "R8",
            Rule::R9 => "R9",
            Rule::R10 => "R10",
            Rule::R11 => "R11",
            Rule::R12 => "R12",
            Rule::R13 => "R13",
            Rule::R14 => "R14",
            Rule::R15 => "R15",
            Rule::Exports => "SPEC §4",
            Rule::Statuses => "SPEC §6",
        }
    }

    /// The rule in a few words.
    pub fn summary(self) -> &'static str {
        match self {
            Rule::R1 => "a watermark never advances past an error",
            Rule::R2 => "a full import commits only when it completed with zero errors",
            Rule::R3 => "obsoletion only at the end of a zero-error full import",
            Rule::R4 => "a large obsoletion is held until approved",
            Rule::R5 => "a broken delta change log requires a full import",
            Rule::R6 => "a watermark held back run after run is reported",
            Rule::R7 => "object-level errors are recorded on the object",
            Rule::R8 => "a fault stops the run",
            Rule::R9 => "a repeated transient error becomes permanent",
            Rule::R10 => "alerts follow their causes",
            Rule::R11 => "run limits stop the run",
            Rule::R12 => "the log is verified and versioned",
            Rule::R13 => "a run is finished only once durable",
            Rule::R14 => "folding is deterministic",
            Rule::R15 => "an event must fit an open run, in order",
            Rule::Exports => "exports are sent in queue order and nothing is lost",
            Rule::Statuses => "a run's status follows from what happened in it",
        }
    }
}

/// The rule in words ("the rule that a watermark never advances past an error"), as the
/// messages of [`Violation`] and [`Rejection`] name it: they reach operators, who read words, not
/// SPEC.md's numbers. [`Rule::code`] gives the number.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the rule that {}", self.summary())
    }
}

/// The fold refused an event: applying it would break a rule. The state is left as it was.
///
/// Made only from an [`EventRefusal`] ([`Violation::new`]), so `rule` is always the refusal's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("event {seq} breaks {rule}: {refusal}")]
#[non_exhaustive]
pub struct Violation {
    /// The sequence number of the refused event.
    pub seq: Seq,
    /// The rule it breaks: `refusal.rule()`.
    pub rule: Rule,
    /// What exactly is wrong, naming runs, pages and objects (boxed: a violation travels inside
    /// the log's and the engine's errors, which stay small).
    pub refusal: Box<EventRefusal>,
}

impl Violation {
    /// The violation of event `seq` for this condition; the rule follows from it.
    pub fn new(seq: Seq, refusal: EventRefusal) -> Self {
        Violation {
            seq,
            rule: refusal.rule(),
            refusal: Box::new(refusal),
        }
    }

    /// What exactly is wrong, as text (the part of the message after the rule).
    pub fn detail(&self) -> String {
        self.refusal.to_string()
    }
}

/// The decider refused a command: carrying it out would break a rule, or it names nothing open.
///
/// Made only from a [`CommandRefusal`] ([`Rejection::new`]), so `rule` is always the refusal's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("command refused by {rule}: {refusal}")]
#[non_exhaustive]
pub struct Rejection {
    /// The rule it would break: `refusal.rule()`.
    pub rule: Rule,
    /// What exactly is wrong.
    pub refusal: CommandRefusal,
}

impl Rejection {
    /// The rejection for this condition; the rule follows from it.
    pub fn new(refusal: CommandRefusal) -> Self {
        Rejection {
            rule: refusal.rule(),
            refusal,
        }
    }

    /// What exactly is wrong, as text (the part of the message after the rule).
    pub fn detail(&self) -> String {
        self.refusal.to_string()
    }
}
