//! A throwaway OpenLDAP server for one test: its own folder, port, password, schema and data,
//! and nothing left behind.
//!
//! [`Slapd::start`] writes a `slapd.conf` into a fresh folder under the system's temp folder
//! (the schemas core, cosine, inetorgperson and nis from `/etc/ldap/schema`; an `mdb` database
//! for `dc=example,dc=org` whose root DN `cn=admin,dc=example,dc=org` has a generated password;
//! the `accesslog` overlay logging successful writes into its own `mdb` database
//! `cn=accesslog`; modules loaded from `/usr/lib/ldap`), starts `slapd` in the foreground on a
//! free port of 127.0.0.1, waits until it answers a search, and loads `ou=people` with N
//! `inetOrgPerson` entries and an empty `ou=groups` through `ldapadd`, so the accesslog holds
//! their adds. [`Slapd::stop`], [`Slapd::kill`] and [`Slapd::start_again`] stop and restart the
//! same server on the same data and port, for fault tests. Dropping it kills the server and
//! removes the folder.
//!
//! The LDAP tests need Debian's `slapd` and `ldap-utils`; `.ci/run` installs them.
//! [`Slapd::available`] says whether they are here; where they are not, a test says so loudly
//! and skips, except under CI (`CI` set), where it fails.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The suffix of the test directory.
pub const SUFFIX: &str = "dc=example,dc=org";
/// The root DN the tests bind as.
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
/// The people subtree.
pub const PEOPLE: &str = "ou=people,dc=example,dc=org";
/// The groups subtree.
pub const GROUPS: &str = "ou=groups,dc=example,dc=org";

const SLAPD: &str = "/usr/sbin/slapd";

static SERVERS: AtomicU64 = AtomicU64::new(0);

/// An entry as `ldapsearch` prints it: the DN and each attribute's values, in order.
pub type LdifEntries = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// One running (or stopped) test server.
pub struct Slapd {
    folder: PathBuf,
    port: u16,
    password: String,
    child: Option<Child>,
}

impl Slapd {
    /// Whether `slapd` and the `ldap-utils` clients are installed.
    pub fn available() -> bool {
        Path::new(SLAPD).exists()
            && Command::new("ldapadd")
                .arg("-VV")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
    }

    /// A started server with `people` entries, or `None` after a loud message when slapd is not
    /// installed (under CI, where `.ci/run` installs it, a missing slapd fails the test).
    pub fn start_or_skip(test: &str, people: usize) -> Option<Slapd> {
        if !Self::available() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: slapd is not installed, and CI must run the LDAP tests: .ci/run installs slapd and ldap-utils"
            );
            eprintln!(
                "\n!!!!! SKIPPED {test}: slapd is not installed (apt-get install slapd ldap-utils, as .ci/run does) !!!!!\n"
            );
            return None;
        }
        Some(Self::start(people))
    }

    /// Starts a server with `people` entries under `ou=people`.
    pub fn start(people: usize) -> Slapd {
        let number = SERVERS.fetch_add(1, Ordering::SeqCst);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let folder = std::env::temp_dir().join(format!(
            "syncfold-slapd-{}-{number}-{nanos}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(folder.join("data")).expect("the server's folder");
        std::fs::create_dir_all(folder.join("accesslog")).expect("the accesslog's folder");
        let password = format!(
            "pw-{}",
            blake3::hash(format!("{}-{number}-{nanos}", std::process::id()).as_bytes())
                .to_hex()
                .chars()
                .take(24)
                .collect::<String>()
        );
        let mut slapd = Slapd {
            folder,
            port: 0,
            password,
            child: None,
        };
        slapd.write_config();
        // A free port is only free until someone takes it: another test's server can be given
        // the same one between our probe and our start. Then ours exits at start (silently, at
        // this debug level), and we try another port; a server that exits five times has
        // another problem, and its log is shown.
        for attempt in 1.. {
            slapd.port = TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("a free port")
                .port();
            match slapd.try_start() {
                Ok(()) => break,
                Err(_) if attempt < 5 => continue,
                Err(log) => panic!("slapd exited at start five times; its log:\n{log}"),
            }
        }
        slapd.load(people);
        slapd
    }

    fn write_config(&self) {
        let folder = self.folder.display();
        let config = format!(
            "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile {folder}/slapd.pid
argsfile {folder}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload accesslog

# The change log first: the overlay below names it.
database mdb
suffix \"cn=accesslog\"
rootdn \"{ADMIN_DN}\"
directory {folder}/accesslog
maxsize 268435456
dbnosync
index reqStart eq

database mdb
suffix \"{SUFFIX}\"
rootdn \"{ADMIN_DN}\"
rootpw {password}
directory {folder}/data
maxsize 268435456
dbnosync
index objectClass eq
overlay accesslog
logdb \"cn=accesslog\"
logops writes
logsuccess TRUE
",
            password = self.password
        );
        std::fs::write(self.folder.join("slapd.conf"), config).expect("slapd.conf");
        let secret = self.password_file();
        std::fs::write(&secret, &self.password).expect("the password file");
        set_private(&secret);
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// The root DN's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// A file holding the password, without a newline (for `-y` and `PasswordSource::File`).
    pub fn password_file(&self) -> PathBuf {
        self.folder.join("password")
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's folder.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Starts the server (again) on its data and port, and waits until it answers.
    pub fn start_again(&mut self) {
        if let Err(log) = self.try_start() {
            panic!("slapd exited at start; its log:\n{log}");
        }
    }

    /// Starts the server and waits until it answers; its log when it exited instead.
    fn try_start(&mut self) -> Result<(), String> {
        assert!(!self.is_running(), "the server is already running");
        let log = std::fs::File::create(self.folder.join("slapd.log")).expect("slapd.log");
        let mut command = Command::new(SLAPD);
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the server when
        // the test's thread (its parent) dies, so a test process killed outright (no Drop) leaves
        // no server behind either.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .arg("-f")
            .arg(self.folder.join("slapd.conf"))
            .arg("-h")
            .arg(format!("{}/", self.url()))
            // Any debug level keeps slapd in the foreground, so this handle is the server.
            .args(["-d", "0"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("slapd.log"))
            .stderr(log)
            .spawn()
            .expect("slapd starts");
        self.child = Some(child);
        self.wait_until_it_answers()
    }

    /// Waits until this server answers a bind with its own password (another test's server on
    /// the same port would refuse it); its log when it exited instead.
    fn wait_until_it_answers(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if !self.is_running() {
                return Err(
                    std::fs::read_to_string(self.folder.join("slapd.log")).unwrap_or_default()
                );
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                let answered = Command::new("ldapwhoami")
                    .args(["-x", "-H", &self.url(), "-D", ADMIN_DN, "-y"])
                    .arg(self.password_file())
                    .output()
                    .is_ok_and(|output| output.status.success());
                if answered {
                    return Ok(());
                }
            }
            assert!(
                Instant::now() < deadline,
                "slapd did not answer on {} within 20 s",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Stops the server cleanly (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                // SAFETY: a plain signal to the process this harness started and still owns.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
            let _ = child.wait();
        }
    }

    /// Kills the server (SIGKILL), as a crash would, and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn client(&self, tool: &str) -> Command {
        let mut command = Command::new(tool);
        command
            .args(["-x", "-H", &self.url(), "-D", ADMIN_DN, "-y"])
            .arg(self.password_file());
        command
    }

    /// Runs `ldapmodify` (with `-a`: records without a changetype are adds) on `ldif`; returns
    /// its output whatever happened.
    pub fn ldapmodify_output(&self, ldif: &str) -> Output {
        let mut child = self
            .client("ldapmodify")
            .arg("-a")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ldapmodify runs");
        // Written from a thread: ldapmodify answers each record on stdout while it reads, and a
        // large input would fill both pipes.
        let mut stdin = child.stdin.take().expect("stdin");
        let input = ldif.to_owned();
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let output = child.wait_with_output().expect("ldapmodify ends");
        writer
            .join()
            .expect("the writer thread")
            .expect("ldapmodify reads its input");
        output
    }

    /// Runs `ldapmodify` on `ldif`, which must succeed.
    pub fn ldapmodify(&self, ldif: &str) {
        let output = self.ldapmodify_output(ldif);
        assert!(
            output.status.success(),
            "ldapmodify failed: {}\n{ldif}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `ldapsearch` of `base` (subtree) with `filter`, every user attribute, as entries.
    pub fn ldapsearch(&self, base: &str, filter: &str) -> LdifEntries {
        let output = self
            .client("ldapsearch")
            .args(["-LLL", "-o", "ldif-wrap=no", "-b", base, filter])
            .output()
            .expect("ldapsearch runs");
        assert!(
            output.status.success(),
            "ldapsearch failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        parse_ldif(&String::from_utf8_lossy(&output.stdout))
    }

    /// The `reqStart` of every record of the accesslog, oldest first.
    pub fn accesslog_starts(&self) -> Vec<String> {
        let output = self
            .client("ldapsearch")
            .args([
                "-LLL",
                "-o",
                "ldif-wrap=no",
                "-b",
                "cn=accesslog",
                "-s",
                "one",
                "(reqStart=*)",
                "reqStart",
            ])
            .output()
            .expect("ldapsearch runs");
        assert!(output.status.success(), "the accesslog reads");
        let mut starts: Vec<String> = parse_ldif(&String::from_utf8_lossy(&output.stdout))
            .into_values()
            .filter_map(|attributes| attributes.get("reqStart").and_then(|v| v.first().cloned()))
            .collect();
        starts.sort();
        starts
    }

    /// Deletes every accesslog record up to and including `through`, as `logpurge` would.
    pub fn purge_accesslog_through(&self, through: &str) {
        let doomed: Vec<String> = self
            .accesslog_starts()
            .into_iter()
            .filter(|start| start.as_str() <= through)
            .map(|start| format!("reqStart={start},cn=accesslog"))
            .collect();
        assert!(!doomed.is_empty(), "nothing to purge through {through}");
        let output = self
            .client("ldapdelete")
            .args(&doomed)
            .output()
            .expect("ldapdelete runs");
        assert!(
            output.status.success(),
            "ldapdelete failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Loads the base entries and `people` people.
    fn load(&self, people: usize) {
        let mut ldif = format!(
            "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
             dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n\n"
        );
        for number in 0..people {
            ldif.push_str(&person(number));
        }
        self.ldapmodify(&ldif);
    }
}

/// The LDIF of generated person number `n`: `uid=userNNNNN` with cn, sn, givenName, mail,
/// employeeNumber and two values of description.
pub fn person(n: usize) -> String {
    format!(
        "dn: uid=user{n:05},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: user{n:05}\ncn: User {n}\nsn: Number{n}\n\
         givenName: User\nmail: user{n:05}@example.org\nemployeeNumber: {n}\n\
         description: generated\ndescription: person {n}\n\n"
    )
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

fn set_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

/// Parses `ldapsearch -LLL -o ldif-wrap=no` output: entries separated by blank lines, `name:
/// value` or `name:: base64` lines.
pub fn parse_ldif(text: &str) -> LdifEntries {
    let mut entries = LdifEntries::new();
    for block in text.split("\n\n") {
        let mut dn = None;
        let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in block.lines().filter(|line| !line.starts_with('#')) {
            let Some((name, rest)) = line.split_once(':') else {
                continue;
            };
            let value = match rest.strip_prefix(':') {
                Some(encoded) => {
                    String::from_utf8_lossy(&base64_decode(encoded.trim())).into_owned()
                }
                None => rest.strip_prefix(' ').unwrap_or(rest).to_owned(),
            };
            if name == "dn" {
                dn = Some(value);
            } else {
                attributes.entry(name.to_owned()).or_default().push(value);
            }
        }
        if let Some(dn) = dn {
            entries.insert(dn, attributes);
        }
    }
    entries
}

/// Standard base64, padding optional.
pub fn base64_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}
