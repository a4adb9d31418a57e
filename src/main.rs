//! The `syncfold` command line: see `syncfold --help`, and `src/cli/` for the commands.
//!
//! Two things happen here before any command runs, both about how the process ends:
//!
//! - **A closed pipe ends the command quietly.** Rust ignores `SIGPIPE`, so printing into a pipe
//!   whose reader left (`syncfold events … | head`) makes `println!` panic. That panic is caught
//!   here: destructors run on the way out (a reader's private copy of the log is removed), and the
//!   process then ends by `SIGPIPE` as a shell expects (status 141), with nothing on stderr.
//! - **An output that cannot be written** (`> /dev/full`) ends the command with status 3 and a
//!   sentence, like any failure to write that is not damage.
//! - **A panic is a bug, said in one sentence.** Any other panic prints what and where, asks for a
//!   report, and exits with status 101; the backtrace only with `RUST_BACKTRACE` set.

mod cli;

use std::process::ExitCode;

/// Whether a panic's message is the standard library's "failed printing to stdout: …".
fn is_output_failure(message: &str) -> bool {
    message.starts_with("failed printing to std")
}

/// Whether it is that failure because the reader of a pipe left.
fn is_broken_pipe(message: &str) -> bool {
    is_output_failure(message) && message.contains("Broken pipe")
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

fn main() -> ExitCode {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = panic_message(info.payload());
        if is_output_failure(&message) {
            // Said (or, for a closed pipe, not said) once the stack has unwound: see below.
            return;
        }
        if std::env::var_os("RUST_BACKTRACE").is_some() {
            previous(info);
            return;
        }
        let place = info
            .location()
            .map_or_else(String::new, |at| format!(" at {}:{}", at.file(), at.line()));
        eprintln!(
            "error: syncfold hit a bug ({message}{place}); please report it with the command you ran (RUST_BACKTRACE=1 shows more)"
        );
    }));
    match std::panic::catch_unwind(cli::run) {
        Ok(code) => code,
        Err(payload) if is_broken_pipe(&panic_message(payload.as_ref())) => {
            // Everything was dropped while unwinding; now end as a pipe writer conventionally does.
            // SAFETY: resetting a signal to its default disposition and raising it has no
            // memory-safety preconditions.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                libc::raise(libc::SIGPIPE);
            }
            ExitCode::from(141)
        }
        Err(payload) if is_output_failure(&panic_message(payload.as_ref())) => {
            // The output itself failed (a full disk, a closed terminal): status 3, as for any
            // failure to write that is not damage.
            let message = panic_message(payload.as_ref());
            let detail = message.trim_start_matches("failed printing to ");
            eprintln!("error: could not write the output ({detail}); free space or fix where the output goes, then run the command again");
            ExitCode::from(3)
        }
        Err(_) => ExitCode::from(101),
    }
}
