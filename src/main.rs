//! The `syncfold` command line: see `syncfold --help`, and `src/cli/` for the commands.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
