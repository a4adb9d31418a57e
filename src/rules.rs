//! The rules syncfold keeps, R1 to R15, in one place: every `R…` in these docs points here.
//!
//! They come from the connector contracts of identity-sync and mail-sync engines (paged imports
//! with watermarks, object-level errors versus whole-run faults, the export actions) and from what
//! an event log must promise to be evidence. The core applies them when it decides a command
//! ([`decide`](crate::core::decide)) and checks them again when it folds an event
//! ([`State::apply`](crate::core::State::apply)); a refusal names its rule as a
//! [`Rule`](crate::core::Rule). Where a rule leaves a choice open, `docs/SEMANTICS.md` in the
//! repository records what syncfold chose.
//!
//! # Imports
//!
//! <a id="r1"></a>
//! ## R1: a watermark never advances past an error
//!
//! A delta import reads pages W1…Wn, each carrying the watermark after it. If page k is the first
//! with an object-level error, a fatal import error, a fault, or a limit that stops the run, the run
//! commits W(k−1) (or leaves the committed watermark alone when k is 1); a clean run commits Wn. The
//! next delta import starts from the committed watermark and reads page k again, so nothing that
//! failed is skipped. Objects read without an error are staged even on and after page k (staging
//! the same change twice is harmless); an object with an error is not staged.
//!
//! <a id="r2"></a>
//! ## R2: a full import commits only when clean
//!
//! A full import commits its last watermark, and clears `full-import-required`, only when it ran to
//! its end with no error. An errored or stopped full import changes neither. A fatal import error
//! in a full import acts as `custom-stop-run`.
//!
//! <a id="r3"></a>
//! ## R3: obsoletion only after a clean full import
//!
//! At the end of a full import with no error, every object of the partition not seen in it is
//! marked obsolete. After any error or stop, obsoletion is skipped and the reason recorded. Delta
//! imports never obsolete: deletes arrive as delete changes.
//!
//! <a id="r4"></a>
//! ## R4: a large obsoletion waits for approval
//!
//! When a clean full import would obsolete more than `deletion_threshold` objects (a number, or a
//! percentage of the live objects), the obsoletion is held until an administrator records
//! `approve-obsoletion`. The run ends `stopped-deletion-threshold-exceeded`; its watermark is
//! committed (the import itself was clean), and the held obsoletion is an error alert.
//!
//! <a id="r5"></a>
//! ## R5: a broken change log requires a full import
//!
//! A fatal import error (`import-parse-error`, `import-read-error`) in a delta import, or the fault
//! `watermark-expired` (the source pruned its change log past the committed watermark), stops the
//! run, commits as R1 says, and sets `full-import-required` on the partition. While it is set, delta
//! imports are refused (`no-start-full-import-required`), naming the run that set it.
//!
//! <a id="r6"></a>
//! ## R6: a watermark held back run after run is reported
//!
//! When `stuck_after` consecutive delta imports each end where they started because an object error
//! held the watermark, a warning names the objects holding it and recommends a full import. A run
//! that moves the watermark closes it; runs stopped by a fault or a limit, and runs that did not
//! start, neither count nor reset.
//!
//! # Errors, faults and limits
//!
//! <a id="r7"></a>
//! ## R7: object-level errors stay on the object
//!
//! `custom-continue-run` is recorded on the object and the run goes on; `custom-stop-run` is
//! recorded and stops the run. Each has a short dash-separated name and a description. The object's
//! error record keeps its first and last occurrence and how many runs it failed in, and closes when
//! the object is read or exported cleanly.
//!
//! <a id="r8"></a>
//! ## R8: a fault stops the run
//!
//! `server-down`, `failed-connection` and `dropped-connection` stop the run and are transient.
//! `bad-credentials` and `oauth-token-expired` stop it and disable the connector until an
//! administrator records `credentials-updated` and then `enable`. Anything else the connector
//! fails with, a panic included, is `connector-exception` with the connector's own message; the
//! engine itself never goes down because a connector did.
//!
//! <a id="r9"></a>
//! ## R9: a repeated transient failure becomes permanent
//!
//! Each failure has a nature (transient or permanent) and a scope (object, partition, connector).
//! When the same transient code fails on the same scope in `retry_count` consecutive runs, it is
//! logged again as permanent; on the connector that suspends it (`no-start-suspended`) until an
//! administrator records `resume`, on an object it only marks the error permanent. A run on the
//! scope that ends without the code resets its count.
//!
//! <a id="r10"></a>
//! ## R10: alerts follow their causes
//!
//! Transient failures are warnings, permanent ones errors. Object and partition alerts go to the
//! partition's owner, connector alerts to the connector's owner (and, for information, to each
//! affected partition's owner). Each alert carries its remedy from the catalog, and stays open
//! exactly as long as its cause: the alert wall is computed from the state, never kept beside it.
//!
//! <a id="r11"></a>
//! ## R11: run limits stop the run
//!
//! A run stops `stopped-error-limit` past `max_errors` errors or `max_warnings` warnings, and
//! `stopped-snapshot-limit` before staging the page that would take the connector space past
//! `snapshot_limit`.
//!
//! # Exports
//!
//! <a id="exports"></a>
//! ## Exports: in queue order, nothing lost
//!
//! Pending changes are sent in the order they were queued, each at most once per run. `success`
//! completes a change; `custom-continue-run` keeps it pending; `custom-stop-run` stops the run and
//! keeps it and everything unsent pending; `convert-update-to-add` makes it an add with all
//! attributes; `provisioning-parent` queues the parent's add ahead of it; and
//! `retry-reference-attribute` keeps only its reference attributes pending.
//!
//! # The log
//!
//! <a id="r12"></a>
//! ## R12: the log is verified and versioned
//!
//! Every record carries its format version, a checksum and the hash of the record before it, so a
//! flipped bit, a cut tail, or a removed or reordered record is found and named by its sequence
//! number. Decoding never trusts a length without a bound.
//!
//! <a id="r13"></a>
//! ## R13: a run is finished only once durable
//!
//! A run is reported finished only after its end is flushed. After a crash at any point, reopening
//! gives a prefix of what was appended; a run found in flight is closed as `interrupted` and its
//! proposals discarded.
//!
//! <a id="r14"></a>
//! ## R14: folding is deterministic
//!
//! The fold has no clock, randomness, IO or hash-map order: the same log gives byte-identical
//! state, and a snapshot plus the records after it gives the state of the full fold.
//!
//! <a id="r15"></a>
//! ## R15: an event must fit the history
//!
//! An event that breaks a rule (a commit past an error, a page for a run that is not open) is
//! refused by the fold, naming its sequence number and rule; the log is never rewritten.
//!
//! # Run statuses
//!
//! <a id="statuses"></a>
//! A run's status follows from what happened in it, with the names identity-sync operators already
//! know: `success`, `completed-warnings`, `completed-discovery-errors`, `completed-export-errors`;
//! `stopped-object-error`, `stopped-error-limit`, `stopped-snapshot-limit`,
//! `stopped-deletion-threshold-exceeded`, `stopped-server-down`, `stopped-connectivity`,
//! `stopped-bad-server-credentials`, `stopped-connector-exception`, `stopped-delta-log-broken`,
//! `stopped-watermark-expired`; `no-start-full-import-required`, `no-start-disabled`,
//! `no-start-suspended`; and `interrupted` ([`RunStatus`](crate::core::RunStatus)).
