//! The benchmarks' command line: `--flag` and `--flag VALUE`, where a wrong or incomplete flag
//! ends the program with status 2 and a sentence naming it and the usage, never a panic.

// Each benchmark includes this file and uses a part of it.
#![allow(dead_code)]

/// The arguments after `cargo bench --bench NAME --`, read one flag at a time.
pub struct Flags {
    raw: Vec<String>,
    next: usize,
    usage: &'static str,
}

impl Flags {
    /// This process's arguments; `usage` is printed with every mistake.
    pub fn new(usage: &'static str) -> Self {
        Flags {
            raw: std::env::args().skip(1).collect(),
            next: 0,
            usage,
        }
    }

    /// The next flag, without the `--bench` Cargo passes to every bench binary.
    pub fn next_flag(&mut self) -> Option<String> {
        loop {
            let flag = self.raw.get(self.next)?.clone();
            self.next += 1;
            if flag != "--bench" {
                return Some(flag);
            }
        }
    }

    /// The value after `flag`, as text.
    pub fn text(&mut self, flag: &str) -> String {
        match self.raw.get(self.next) {
            Some(value) => {
                self.next += 1;
                value.clone()
            }
            None => self.fail(&format!("{flag} needs a value")),
        }
    }

    /// The value after `flag`, a positive number.
    pub fn positive(&mut self, flag: &str) -> u64 {
        let value = self.text(flag);
        match value.replace('_', "").parse::<u64>() {
            Ok(number) if number > 0 => number,
            _ => self.fail(&format!("{flag} needs a positive number, not `{value}`")),
        }
    }

    /// The value after `flag`, a comma-separated list of positive numbers.
    pub fn positives(&mut self, flag: &str) -> Vec<u64> {
        let value = self.text(flag);
        let list: Option<Vec<u64>> = value
            .split(',')
            .map(|n| {
                n.trim()
                    .replace('_', "")
                    .parse::<u64>()
                    .ok()
                    .filter(|&n| n > 0)
            })
            .collect();
        match list {
            Some(list) if !list.is_empty() => list,
            _ => self.fail(&format!(
                "{flag} needs positive numbers separated by commas, such as 10000,100000, not `{value}`"
            )),
        }
    }

    /// A flag this benchmark does not know.
    pub fn unknown(&self, flag: &str) -> ! {
        self.fail(&format!("unknown argument `{flag}`"))
    }

    /// Ends the program: the mistake, then the usage.
    pub fn fail(&self, message: &str) -> ! {
        eprintln!("error: {message}; usage: {}", self.usage);
        std::process::exit(2);
    }
}
