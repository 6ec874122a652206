//! Plugin distribution through the real `dtm` binary: registries served by a real HTTP server on
//! loopback (scripts/registry-test-server.py, with fault injection and request counters) or as
//! file:// directories, holding the real workspace plugins published with `dtm plugin publish`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it does not expect"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_dtm"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn lib(name: &str) -> PathBuf {
    let p = target_dir().join(dtm_engine::plugin::library_file_name(name));
    assert!(
        p.exists(),
        "{} missing: run `cargo build --workspace` first",
        p.display()
    );
    p
}

/// The `file` plugin's library name and platform directory on this machine.
fn lib_file() -> String {
    dtm_engine::plugin::library_file_name("file")
}
fn platform() -> String {
    dtm_engine::registry::Platform::current().to_string()
}

/// A temp dir with a dtm home, a signing key trusted by that home, and a registry directory
/// holding the `file` plugin.
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        let w = World {
            dir: tempfile::tempdir().unwrap(),
        };
        w.dtm(&["plugin", "keygen", "--trust"]).ok();
        w.publish(&[lib("file")]);
        w
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn home(&self) -> PathBuf {
        self.path("home")
    }
    fn registry(&self) -> PathBuf {
        self.path("registry")
    }
    fn key(&self) -> PathBuf {
        self.home().join("keys/signing.key")
    }
    fn version_dir(&self) -> PathBuf {
        self.registry().join("plugins/file/0.1.0")
    }
    fn published_lib(&self) -> PathBuf {
        self.version_dir().join(platform()).join(lib_file())
    }
    /// Where the cache keeps `file` 0.1.0 for this platform.
    fn cache_dir(&self) -> PathBuf {
        self.home().join("plugins/file/0.1.0").join(platform())
    }
    /// The cached workspace build of `file` (entries are named by the build's hash).
    fn cached_lib(&self) -> PathBuf {
        self.cached_build(&lib("file"))
    }
    /// Where the cache keeps the build `library` is a copy of.
    fn cached_build(&self, library: &Path) -> PathBuf {
        self.cache_dir().join(sha256(library)).join(lib_file())
    }
    /// Where the cache keeps the build with hash `sha256`.
    fn cached_build_of(&self, sha256: &str) -> PathBuf {
        self.cache_dir().join(sha256).join(lib_file())
    }
    /// Every cached library of `file` 0.1.0 for this platform, whatever its hash.
    fn cached_libs(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(self.cache_dir())
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .map(|e| e.path().join(lib_file()))
            .filter(|p| p.is_file())
            .collect();
        out.sort();
        out
    }

    fn publish(&self, libs: &[PathBuf]) {
        let mut args: Vec<String> = vec![
            "plugin".into(),
            "publish".into(),
            "--registry".into(),
            self.registry().display().to_string(),
            "--key".into(),
            self.key().display().to_string(),
            "--force".into(),
        ];
        args.extend(libs.iter().map(|l| l.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.dtm(&args).ok();
    }

    /// A project directory with a config using `registry`.
    fn project(&self, name: &str, registry: &str) -> PathBuf {
        let dir = self.path(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("dtm.yaml"),
            format!(
                "config:\n  pluginRegistry: {registry}\ntools:\n- name: file\n  instanceID: motd\n  options:\n    path: out/motd.txt\n    content: \"hello\\n\"\n"
            ),
        )
        .unwrap();
        dir
    }

    /// Sets up what `./install.sh` leaves: the registry is the default in
    /// `<dtm home>/config.toml`.
    fn make_default_registry(&self) {
        std::fs::write(
            self.home().join("config.toml"),
            format!(
                "[registry]\nurl = \"file://{}\"\n",
                self.registry().display()
            ),
        )
        .unwrap();
    }

    /// `dtm` alone in a bin directory, as `./install.sh` installs it. cargo's target directory,
    /// where the test binary lives, also holds every plugin library, and dtm looks beside its
    /// own executable: a test run from there would find them without any registry.
    fn bin_dir(&self) -> PathBuf {
        let bin = self.path("bin");
        let exe = bin.join(Path::new(env!("CARGO_BIN_EXE_dtm")).file_name().unwrap());
        if !exe.exists() {
            std::fs::create_dir_all(&bin).unwrap();
            if std::fs::hard_link(env!("CARGO_BIN_EXE_dtm"), &exe).is_err() {
                std::fs::copy(env!("CARGO_BIN_EXE_dtm"), &exe).unwrap();
            }
        }
        bin
    }

    /// Runs the installed copy of dtm (see [`World::bin_dir`]) in an empty directory.
    fn installed(&self, args: &[&str]) -> Run {
        let exe = self
            .bin_dir()
            .join(Path::new(env!("CARGO_BIN_EXE_dtm")).file_name().unwrap());
        let work = self.path("work");
        std::fs::create_dir_all(&work).unwrap();
        let mut c = self.cmd_of(&exe, args);
        c.current_dir(work);
        Run(c.output().unwrap())
    }

    fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_of(Path::new(env!("CARGO_BIN_EXE_dtm")), args)
    }

    fn cmd_of(&self, exe: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(exe);
        c.args(args)
            .current_dir(self.dir.path())
            .env("DTM_HOME", self.home())
            .env("NO_COLOR", "1")
            .env("DTM_REGISTRY_BACKOFF", "10ms")
            .env("DTM_REGISTRY_TIMEOUT", "5s")
            .env_remove("DTM_REGISTRY")
            .env_remove("DTM_PLUGIN_DIR")
            .env_remove("DTM_CONFIG")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("ALL_PROXY")
            .stdin(Stdio::null());
        c
    }

    fn dtm(&self, args: &[&str]) -> Run {
        Run(self.cmd(args).output().unwrap())
    }

    fn in_project(&self, project: &Path, args: &[&str]) -> Run {
        let mut c = self.cmd(args);
        c.current_dir(project);
        Run(c.output().unwrap())
    }
}

struct Run(Output);

impl Run {
    fn all(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&self.0.stdout),
            String::from_utf8_lossy(&self.0.stderr)
        )
    }
    #[track_caller]
    fn ok(self) -> Self {
        assert!(self.0.status.success(), "dtm failed\n{}", self.all());
        self
    }
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.0.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e})\n{}", self.all()))
    }
    #[track_caller]
    fn fails(self) -> String {
        assert_eq!(
            self.0.status.code(),
            Some(1),
            "expected exit 1\n{}",
            self.all()
        );
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
}

/// The test server; killed (through its stdin closing) when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(dir: &Path) -> Self {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/registry-test-server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is needed for the registry tests");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().strip_prefix("PORT ").unwrap().parse().unwrap();
        Server { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn get(&self, path: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out.split("\r\n\r\n").nth(1).unwrap_or("").to_string()
    }

    fn fault(&self, path: &str, kind: &str, times: u32) {
        self.get(&format!("/_fault?path={path}&kind={kind}&times={times}"));
    }

    /// Requests served so far: (total, requests for `path`).
    fn count(&self, path: &str) -> (u64, u64) {
        let v: serde_json::Value = serde_json::from_str(&self.get("/_stats")).unwrap();
        (
            v["total"].as_u64().unwrap(),
            v["paths"][path].as_u64().unwrap_or(0),
        )
    }

    fn reset(&self) {
        self.get("/_reset");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The library's URL path on the test server.
fn lib_path() -> String {
    format!("/plugins/file/0.1.0/{}/{}", platform(), lib_file())
}

fn sha256(path: &Path) -> String {
    // The engine is a dependency of the CLI crate, so its helper is at hand.
    dtm_engine::registry::sha256_file(path).unwrap()
}

#[test]
fn happy_path_then_cache_hit_makes_no_request() {
    let w = World::new();
    let srv = Server::start(&w.registry());
    let p = w.project("p", &srv.url());
    let out = w.in_project(&p, &["init", "-f", "dtm.yaml"]).ok();
    assert!(out.all().contains("downloaded, verified"), "{}", out.all());
    let lock = std::fs::read_to_string(p.join("dtm.lock")).unwrap();
    assert!(lock.contains("[plugins.file]") && lock.contains("version = \"0.1.0\""));
    assert!(lock.contains(&sha256(&lib("file"))), "{lock}");
    assert_eq!(sha256(&w.cached_lib()), sha256(&lib("file")));
    assert_eq!(srv.count(&lib_path()).1, 1);

    srv.reset();
    w.in_project(&p, &["apply", "-f", "dtm.yaml", "-y"]).ok();
    assert_eq!(
        std::fs::read_to_string(p.join("out/motd.txt")).unwrap(),
        "hello\n"
    );
    w.in_project(&p, &["verify", "-f", "dtm.yaml"]).ok();
    // A second init with everything cached and locked asks the server nothing either.
    w.in_project(&p, &["init", "-f", "dtm.yaml"]).ok();
    assert_eq!(
        srv.count(&lib_path()),
        (0, 0),
        "cache hits must not touch the network"
    );
}

#[test]
fn first_apply_initialises_and_verify_needs_a_lock() {
    let w = World::new();
    let srv = Server::start(&w.registry());
    let p = w.project("p", &srv.url());
    let err = w.in_project(&p, &["verify", "-f", "dtm.yaml"]).fails();
    assert!(err.contains("not in") && err.contains("dtm init"), "{err}");
    w.in_project(&p, &["apply", "-f", "dtm.yaml", "-y"]).ok();
    assert!(p.join("dtm.lock").exists());
    w.in_project(&p, &["verify", "-f", "dtm.yaml"]).ok();
}

#[test]
fn lock_pins_the_build() {
    let w = World::new();
    let srv = Server::start(&w.registry());
    let p = w.project("p", &srv.url());
    w.in_project(&p, &["init", "-f", "dtm.yaml"]).ok();
    let pinned = sha256(&lib("file"));

    // The same version republished with other bytes (trailing data keeps it loadable).
    let other = w.path("other/libdtm_plugin_file.so");
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    let mut bytes = std::fs::read(lib("file")).unwrap();
    bytes.extend_from_slice(b"rebuilt");
    std::fs::write(&other, bytes).unwrap();
    w.publish(std::slice::from_ref(&other));

    // With the build cached, the lock keeps using it.
    w.in_project(&p, &["apply", "-f", "dtm.yaml", "-y"]).ok();
    // On a machine without the cache, the registry's new build does not match the lock.
    std::fs::remove_dir_all(w.home().join("plugins")).unwrap();
    let err = w.in_project(&p, &["apply", "-f", "dtm.yaml", "-y"]).fails();
    assert!(
        err.contains("dtm.lock pins sha256") && err.contains(&pinned),
        "{err}"
    );
    assert_eq!(w.cached_libs(), Vec::<PathBuf>::new());
    // Upgrading accepts the registry's build and rewrites the lock.
    w.in_project(&p, &["init", "-f", "dtm.yaml", "--upgrade"])
        .ok();
    let lock = std::fs::read_to_string(p.join("dtm.lock")).unwrap();
    assert!(lock.contains(&sha256(&other)), "{lock}");
}

/// `./install.sh` republishes an unchanged version with `--force` after every rebuild. A config
/// initialised afterwards gets the new build; one whose lock pins the old build must keep it.
#[test]
fn a_republished_version_keeps_the_build_another_lock_pins() {
    let w = World::new();
    let registry = format!("file://{}", w.registry().display());
    let a = w.project("a", &registry);
    w.in_project(&a, &["init", "-f", "dtm.yaml"]).ok();
    let x = lib("file");

    // Build Y: the same version with other bytes (trailing data keeps it loadable).
    let y = w.path("rebuilt").join(lib_file());
    std::fs::create_dir_all(y.parent().unwrap()).unwrap();
    let mut bytes = std::fs::read(&x).unwrap();
    bytes.push(b'\n');
    std::fs::write(&y, bytes).unwrap();
    let out = w
        .dtm(&[
            "plugin",
            "publish",
            "--registry",
            w.registry().to_str().unwrap(),
            "--key",
            w.key().to_str().unwrap(),
            "--force",
            y.to_str().unwrap(),
        ])
        .ok();
    assert!(
        out.stdout().contains(&format!(
            "published file 0.1.0 for {} (sha256 {})",
            platform(),
            sha256(&y)
        )),
        "{}",
        out.all()
    );

    let b = w.project("b", &registry);
    w.in_project(&b, &["init", "-f", "dtm.yaml"]).ok();
    let lock_a = std::fs::read_to_string(a.join("dtm.lock")).unwrap();
    let lock_b = std::fs::read_to_string(b.join("dtm.lock")).unwrap();
    assert!(lock_a.contains(&sha256(&x)), "{lock_a}");
    assert!(lock_b.contains(&sha256(&y)), "{lock_b}");
    assert_eq!(w.cached_libs(), {
        let mut both = vec![w.cached_build(&x), w.cached_build(&y)];
        both.sort();
        both
    });
    assert_eq!(sha256(&w.cached_build(&x)), sha256(&x));

    // Config A, offline (its lock only), still has build X; B has Y.
    std::fs::rename(w.registry(), w.path("registry-gone")).unwrap();
    w.in_project(&a, &["apply", "-f", "dtm.yaml", "-y"]).ok();
    assert_eq!(
        std::fs::read_to_string(a.join("out/motd.txt")).unwrap(),
        "hello\n"
    );
    w.in_project(&a, &["verify", "-f", "dtm.yaml"]).ok();
    w.in_project(&b, &["apply", "-f", "dtm.yaml", "-y"]).ok();
    w.in_project(&b, &["verify", "-f", "dtm.yaml"]).ok();
    assert_eq!(std::fs::read_to_string(a.join("dtm.lock")).unwrap(), lock_a);

    // `dtm plugin list` shows both builds, and which one this config's lock pins.
    let v = w
        .in_project(&a, &["plugin", "list", "-o", "json"])
        .ok()
        .json();
    let installed: Vec<(String, bool)> = v["installed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["sha256"].as_str().unwrap().to_string(),
                b["locked"].as_bool().unwrap(),
            )
        })
        .collect();
    let mut expected = vec![(sha256(&x), true), (sha256(&y), false)];
    expected.sort_by_key(|(sha, _)| w.cached_build_of(sha));
    assert_eq!(installed, expected, "{v}");
    assert_eq!(v["locked"][0]["installed"], true);
    let text = w.in_project(&a, &["plugin", "list"]).ok().stdout();
    assert!(
        text.contains(&format!("{}  locked", &sha256(&x)[..12]))
            && text.contains(&format!("{}\n", &sha256(&y)[..12])),
        "{text}"
    );
}

/// A cache written before builds were filed by hash (`<platform>/<library>`) keeps serving the
/// locks that pin its builds.
#[test]
fn a_cache_of_the_old_layout_keeps_working() {
    let w = World::new();
    let p = w.project("p", &format!("file://{}", w.registry().display()));
    w.in_project(&p, &["init", "-f", "dtm.yaml"]).ok();
    let old = w.cache_dir().join(lib_file());
    std::fs::rename(w.cached_lib(), &old).unwrap();
    std::fs::remove_dir_all(w.cached_lib().parent().unwrap()).unwrap();

    std::fs::rename(w.registry(), w.path("registry-gone")).unwrap();
    w.in_project(&p, &["apply", "-f", "dtm.yaml", "-y"]).ok();
    assert!(!old.exists());
    assert_eq!(w.cached_libs(), [w.cached_lib()]);
    w.in_project(&p, &["verify", "-f", "dtm.yaml"]).ok();
}

/// After one run verified a cached library, the next runs trust its stamp instead of hashing it;
/// a library changed in place (same size, modification time put back) is still refused.
#[cfg(unix)]
#[test]
fn a_cached_library_changed_in_place_is_refused_despite_its_stamp() {
    use std::os::unix::fs::{FileExt, MetadataExt};
    let w = World::new();
    let srv = Server::start(&w.registry());
    let p = w.project("p", &srv.url());
    w.in_project(&p, &["apply", "-f", "dtm.yaml", "-y"]).ok();
    let cached = w.cached_lib();
    let stamp = cached.parent().unwrap().join(".verified");
    // A build changed within the current clock tick is not stamped yet (see docs/registry.md).
    let started = Instant::now();
    while !stamp.exists() {
        assert!(started.elapsed() < Duration::from_secs(10), "never stamped");
        std::thread::sleep(Duration::from_millis(20));
        w.in_project(&p, &["verify", "-f", "dtm.yaml"]).ok();
    }
    let text = std::fs::read_to_string(&stamp).unwrap();
    assert!(
        text.contains(&format!("sha256 {}\n", sha256(&lib("file")))),
        "{text}"
    );

    let before = std::fs::metadata(&cached).unwrap();
    let f = std::fs::File::options()
        .read(true)
        .write(true)
        .open(&cached)
        .unwrap();
    let last = before.len() - 1;
    let mut byte = [0u8];
    f.read_exact_at(&mut byte, last).unwrap();
    f.write_all_at(&[byte[0] ^ 0xff], last).unwrap();
    f.set_modified(before.modified().unwrap()).unwrap();
    drop(f);
    let after = std::fs::metadata(&cached).unwrap();
    assert_eq!(
        (
            after.len(),
            after.mtime(),
            after.mtime_nsec(),
            after.ino(),
            after.dev()
        ),
        (
            before.len(),
            before.mtime(),
            before.mtime_nsec(),
            before.ino(),
            before.dev()
        )
    );
    assert_ne!(sha256(&cached), sha256(&lib("file")));

    // The changed file is discarded and the locked build fetched again.
    srv.reset();
    let out = w.in_project(&p, &["verify", "-f", "dtm.yaml"]).ok();
    assert!(
        out.all().contains("had changed since dtm verified it"),
        "{}",
        out.all()
    );
    assert_eq!(srv.count(&lib_path()).1, 1);
    assert_eq!(sha256(&cached), sha256(&lib("file")));

    // Without the registry, the changed file is refused, not loaded.
    let f = std::fs::File::options().write(true).open(&cached).unwrap();
    f.write_all_at(&[byte[0] ^ 0xff], last).unwrap();
    drop(f);
    drop(srv);
    let err = w.in_project(&p, &["verify", "-f", "dtm.yaml"]).fails();
    assert!(err.contains("cannot download"), "{err}");
    assert!(!cached.exists());
}

#[test]
fn tampered_library_is_refused_and_not_cached() {
    let w = World::new();
    let mut bytes = std::fs::read(w.published_lib()).unwrap();
    bytes.push(0);
    std::fs::write(w.published_lib(), bytes).unwrap();
    let srv = Server::start(&w.registry());
    let p = w.project("p", &srv.url());
    let err = w.in_project(&p, &["init", "-f", "dtm.yaml"]).fails();
    assert!(err.contains("checksum mismatch"), "{err}");
    assert!(
        err.contains("`file` 0.1.0") || err.contains("plugin `file` 0.1.0"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}{}", srv.url(), lib_path())),
        "{err}"
    );
    assert!(
        err.contains(&sha256(&lib("file"))),
        "expected hash named: {err}"
    );
    assert!(
        err.contains(&sha256(&w.published_lib())),
        "actual hash named: {err}"
    );
    assert_eq!(w.cached_libs(), Vec::<PathBuf>::new());
    assert!(!p.join("dtm.lock").exists());
}

#[test]
fn tampered_checksums_fail_the_signature() {
    let w = World::new();
    // An attacker swaps the library and fixes up the checksum to match it.
    let mut bytes = std::fs::read(w.published_lib()).unwrap();
    bytes.push(0);
    std::fs::write(w.published_lib(), &bytes).unwrap();
    let sums = format!(
        "{}  {}/{}\n",
        dtm_engine::registry::sha256_hex(&bytes),
        platform(),
        lib_file()
    );
    std::fs::write(w.version_dir().join("SHA256SUMS"), sums).unwrap();
    let p = w.project("p", &format!("file://{}", w.registry().display()));
    let err = w.in_project(&p, &["init", "-f", "dtm.yaml"]).fails();
    assert!(err.contains("bad signature"), "{err}");
    assert_eq!(w.cached_libs(), Vec::<PathBuf>::new());
}

#[test]
fn bad_and_missing_signatures_are_refused() {
    let w = World::new();
    let sig = w.version_dir().join("SHA256SUMS.minisig");
    let p = w.project("p", &format!("file://{}", w.registry().display()));

    let text = std::fs::read_to_string(&sig).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    // Change one character in the middle of the signature bytes.
    let l = &mut lines[1];
    let c = if &l[40..41] == "A" { "B" } else { "A" };
    l.replace_range(40..41, c);
    std::fs::write(&sig, lines.join("\n") + "\n").unwrap();
    let err = w.in_project(&p, &["init", "-f", "dtm.yaml"]).fails();
    assert!(err.contains("bad signature"), "{err}");

    std::fs::remove_file(&sig).unwrap();
    let err = w.in_project(&p, &["init", "-f", "dtm.yaml"]).fails();
    assert!(err.contains("SHA256SUMS.minisig is missing"), "{err}");
    assert_eq!(w.cached_libs(), Vec::<PathBuf>::new());
}

#[test]
fn untrusted_key_is_refused_until_trusted_or_named_in_config() {
    let w = World::new();
    // Re-sign with a key the home does not trust.
    let other = w.path("other-key");
    w.dtm(&["plugin", "keygen", "--out", other.to_str().unwrap()])
        .ok();
    w.dtm(&[
        "plugin",
        "publish",
        "--registry",
        w.registry().to_str().unwrap(),
        "--key",
        other.with_extension("key").to_str().unwrap(),
        lib("file").to_str().unwrap(),
    ])
    .ok();
    let p = w.project("p", &format!("file://{}", w.registry().display()));
    let err = w.in_project(&p, &["init", "-f", "dtm.yaml"]).fails();
    assert!(err.contains("which is not trusted"), "{err}");
    assert_eq!(w.cached_libs(), Vec::<PathBuf>::new());

    // Naming the key in the config (a private registry) makes it trusted for that config.
    let pubkey = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let b64 = pubkey.lines().nth(1).unwrap();
    let cfg = std::fs::read_to_string(p.join("dtm.yaml"))
        .unwrap()
        .replace(
            "config:\n",
            &format!("config:\n  pluginRegistryKey: {b64}\n"),
        );
    std::fs::write(p.join("dtm.yaml"), cfg).unwrap();
    w.in_project(&p, &["init", "-f", "dtm.yaml"]).ok();
}

#[test]
fn not_found_is_not_retried() {
    let w = World::new();
    std::fs::remove_file(w.published_lib()).unwrap();
    let srv = Server::start(&w.registry());
    let p = w.project("p", &srv.url());
    let err = w.in_project(&p, &["init", "-f", "dtm.yaml"]).fails();
    assert!(
        err.contains("not found (404)") && err.contains(&lib_path()),
        "{err}"
    );
    assert_eq!(srv.count(&lib_path()).1, 1);
}

#[test]
fn server_errors_are_retried_until_success() {
    let w = World::new();
    let srv = Server::start(&w.registry());
    srv.fault(&lib_path(), "500", 2);
    let p = w.project("p", &srv.url());
    let out = w.in_project(&p, &["init", "-f", "dtm.yaml"]).ok();
    assert_eq!(srv.count(&lib_path()).1, 3, "{}", out.all());
    assert!(out.all().contains("retrying"), "{}", out.all());
    assert_eq!(sha256(&w.cached_lib()), sha256(&lib("file")));
}

#[test]
fn forbidden_is_final() {
    let w = World::new();
    let srv = Server::start(&w.registry());
    srv.fault(&lib_path(), "403", 5);
    let p = w.project("p", &srv.url());
    let err = w.in_project(&p, &["init", "-f", "dtm.yaml"]).fails();
    assert!(err.contains("HTTP status 403"), "{err}");
    assert_eq!(srv.count(&lib_path()).1, 1);
}

#[test]
fn truncated_bodies_are_retried_and_never_cached() {
    let w = World::new();
    let srv = Server::start(&w.registry());
    let p = w.project("p", &srv.url());
    srv.fault(&lib_path(), "truncate", 100);
    let mut c = w.cmd(&["init", "-f", "dtm.yaml"]);
    c.current_dir(&p).env("DTM_REGISTRY_RETRIES", "2");
    let err = Run(c.output().unwrap()).fails();
    assert!(err.contains("gave up after 3 attempts"), "{err}");
    assert_eq!(w.cached_libs(), Vec::<PathBuf>::new());
    let leftovers: Vec<_> = std::fs::read_dir(w.cached_lib().parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".lock")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    srv.reset();
    srv.fault(&lib_path(), "truncate", 1);
    w.in_project(&p, &["init", "-f", "dtm.yaml"]).ok();
    assert_eq!(srv.count(&lib_path()).1, 2);
    assert_eq!(sha256(&w.cached_lib()), sha256(&lib("file")));
}

#[test]
fn slow_server_times_out() {
    let w = World::new();
    let srv = Server::start(&w.registry());
    srv.fault(&lib_path(), "slow", 100);
    let p = w.project("p", &srv.url());
    let mut c = w.cmd(&["init", "-f", "dtm.yaml"]);
    c.current_dir(&p)
        .env("DTM_REGISTRY_TIMEOUT", "300ms")
        .env("DTM_REGISTRY_RETRIES", "1");
    let started = Instant::now();
    let err = Run(c.output().unwrap()).fails();
    assert!(err.contains("timed out"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(srv.count(&lib_path()).1, 2);
}

#[test]
fn concurrent_inits_share_one_cache() {
    let w = World::new();
    let srv = Server::start(&w.registry());
    let projects: Vec<PathBuf> = (0..4)
        .map(|i| w.project(&format!("p{i}"), &srv.url()))
        .collect();
    let children: Vec<Child> = projects
        .iter()
        .map(|p| {
            let mut c = w.cmd(&["init", "-f", "dtm.yaml"]);
            c.current_dir(p)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    for child in children {
        Run(child.wait_with_output().unwrap()).ok();
    }
    assert_eq!(sha256(&w.cached_lib()), sha256(&lib("file")));
    assert_eq!(
        srv.count(&lib_path()).1,
        1,
        "one download for the cache entry"
    );
    for p in &projects {
        w.in_project(p, &["apply", "-f", "dtm.yaml", "-y"]).ok();
    }
}

#[test]
fn offline_mirror_serves_an_air_gapped_machine() {
    let w = World::new();
    w.publish(&[lib("exec")]);
    let srv = Server::start(&w.registry());
    let p = w.project("p", &srv.url());
    w.in_project(&p, &["init", "-f", "dtm.yaml"]).ok();
    let mirror = w.path("mirror");
    w.in_project(
        &p,
        &[
            "plugin",
            "mirror",
            "--to",
            mirror.to_str().unwrap(),
            "-f",
            "dtm.yaml",
        ],
    )
    .ok();
    drop(srv);
    // Exactly what the config needs: `file`, not `exec`.
    assert!(
        mirror
            .join("plugins/file/0.1.0/SHA256SUMS.minisig")
            .exists()
    );
    assert!(!mirror.join("plugins/exec").exists());

    // A machine with an empty cache, the same trusted key and only the mirror.
    std::fs::remove_dir_all(w.home().join("plugins")).unwrap();
    let cfg = std::fs::read_to_string(p.join("dtm.yaml")).unwrap();
    let offline = w.path("offline");
    std::fs::create_dir_all(&offline).unwrap();
    let cfg = cfg
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("pluginRegistry:") {
                format!("  pluginRegistry: file://{}", mirror.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(offline.join("dtm.yaml"), cfg).unwrap();
    std::fs::copy(p.join("dtm.lock"), offline.join("dtm.lock")).unwrap();
    w.in_project(&offline, &["apply", "-f", "dtm.yaml", "-y"])
        .ok();
    assert!(offline.join("out/motd.txt").exists());
}

#[test]
fn plain_http_to_a_remote_host_is_refused() {
    let w = World::new();
    let p = w.project("p", "http://registry.example.com/dtm");
    let err = w.in_project(&p, &["init", "-f", "dtm.yaml"]).fails();
    assert!(err.contains("only allowed for loopback"), "{err}");
}

#[test]
fn search_info_and_list() {
    let w = World::new();
    w.publish(&[lib("exec")]);
    let reg = format!("file://{}", w.registry().display());
    let out = w.dtm(&["plugin", "search", "--registry", &reg]).ok();
    let text = String::from_utf8_lossy(&out.0.stdout).into_owned();
    assert!(text.contains("file") && text.contains("exec"), "{text}");
    let out = w
        .dtm(&["plugin", "search", "escape", "--registry", &reg])
        .ok();
    let text = String::from_utf8_lossy(&out.0.stdout).into_owned();
    assert!(text.contains("exec") && !text.contains("file "), "{text}");
    let out = w
        .dtm(&["plugin", "info", "file", "--registry", &reg, "-o", "json"])
        .ok();
    let v: serde_json::Value = serde_json::from_slice(&out.0.stdout).unwrap();
    assert_eq!(v["versions"][0]["version"], "0.1.0");
    assert_eq!(v["versions"][0]["abi"], "1.0");

    let p = w.project("p", &reg);
    w.in_project(&p, &["init", "-f", "dtm.yaml"]).ok();
    let out = w.in_project(&p, &["plugin", "list", "-o", "json"]).ok();
    let v: serde_json::Value = serde_json::from_slice(&out.0.stdout).unwrap();
    assert_eq!(v["installed"][0]["name"], "file");
    assert_eq!(v["locked"][0]["installed"], true);
}

#[test]
fn a_signed_build_that_is_another_plugin_is_refused_at_load() {
    let w = World::new();
    // The publisher's key signs `exec`'s library in `file`'s place.
    let bytes = std::fs::read(lib("exec")).unwrap();
    std::fs::write(w.published_lib(), &bytes).unwrap();
    let mut sums = dtm_engine::registry::Sums::default();
    sums.entries.insert(
        (platform(), lib_file()),
        dtm_engine::registry::sha256_hex(&bytes),
    );
    let (sk, pk) = dtm_engine::registry::read_secret_key(&w.key()).unwrap();
    dtm_engine::registry::sign_sums(&w.version_dir(), &sums, &sk, &pk, "file", "0.1.0", "1.0")
        .unwrap();
    let p = w.project("p", &format!("file://{}", w.registry().display()));
    let err = w.in_project(&p, &["init", "-f", "dtm.yaml"]).fails();
    assert!(
        err.contains("says it is `exec`") && err.contains("locked as `file` 0.1.0"),
        "{err}"
    );
}

#[test]
fn show_config_after_install_fetches_the_plugin_from_the_default_registry() {
    let w = World::new();
    let bin = w.bin_dir();
    // No library beside dtm and no registry yet: the error says where dtm looked and what to do.
    let err = w.installed(&["show", "config", "-p", "file"]).fails();
    for part in [
        format!("looked for {} in {}", lib_file(), bin.display()),
        format!("plugin cache {}", w.home().join("plugins").display()),
        "no registry is configured".into(),
        "./install.sh".into(),
        "--plugin-dir".into(),
    ] {
        assert!(err.contains(&part), "{part:?} missing from: {err}");
    }

    w.make_default_registry();
    let out = w.installed(&["show", "config", "-p", "file"]).ok();
    let sample = out.stdout();
    assert!(
        sample.starts_with("# file 0.1.0: ") && sample.contains("\n- name: file\n"),
        "{}",
        out.all()
    );
    assert!(
        sample.contains(&format!("# library: {}\n", w.cached_lib().display())),
        "{sample}"
    );
    assert_eq!(sha256(&w.cached_lib()), sha256(&lib("file")));
    // No lock file appears anywhere: this is not a config's resolution.
    assert!(!w.path("work/dtm.lock").exists());

    // A version requirement the registry cannot meet names what it publishes.
    let err = w
        .installed(&["show", "config", "-p", "file", "--version", "0.2"])
        .fails();
    assert!(
        err.contains("matches `^0.2`") && err.contains("published: 0.1.0"),
        "{err}"
    );

    // The cached build serves later runs without the registry.
    std::fs::rename(w.registry(), w.path("registry-moved")).unwrap();
    let manifest = w
        .installed(&["show", "config", "-p", "file", "-o", "json"])
        .ok()
        .json();
    assert_eq!(manifest["name"], "file");
    assert_eq!(manifest["version"], "0.1.0");
    // An explicit plugin directory wins over the cache.
    let out = w
        .installed(&[
            "show",
            "config",
            "-p",
            "file",
            "--plugin-dir",
            target_dir().to_str().unwrap(),
        ])
        .ok();
    assert!(
        out.stdout()
            .contains(&format!("# library: {}\n", lib("file").display())),
        "{}",
        out.all()
    );
}

#[test]
fn show_config_refuses_a_tampered_build_from_the_default_registry() {
    let w = World::new();
    w.make_default_registry();
    let mut bytes = std::fs::read(w.published_lib()).unwrap();
    bytes.push(0);
    std::fs::write(w.published_lib(), bytes).unwrap();
    let err = w.installed(&["show", "config", "-p", "file"]).fails();
    assert!(
        err.contains("plugin `file` 0.1.0: checksum mismatch")
            && err.contains(&format!(
                "file://{}/plugins/file/0.1.0/{}/{}",
                w.registry().display(),
                platform(),
                lib_file()
            ))
            && err.contains(&sha256(&lib("file"))),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "then asked registry file://{}",
            w.registry().display()
        )),
        "{err}"
    );
    assert_eq!(w.cached_libs(), Vec::<PathBuf>::new());
}

#[test]
fn list_plugins_shows_the_registry_and_the_cache_and_survives_an_unreachable_registry() {
    let w = World::new();
    w.publish(&[lib("exec")]);
    w.make_default_registry();
    let registry = format!("file://{}", w.registry().display());
    let v = w.installed(&["list", "plugins", "-o", "json"]).ok().json();
    assert_eq!(v["registry"], registry.as_str());
    assert_eq!(v["warnings"], serde_json::json!([]));
    let rows = |v: &serde_json::Value| -> Vec<(String, String, String)> {
        v["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let mut keys: Vec<&String> = r.as_object().unwrap().keys().collect();
                keys.sort();
                assert_eq!(
                    keys,
                    ["description", "error", "name", "path", "source", "version"],
                    "{r}"
                );
                assert!(r["error"].is_null(), "{r}");
                (
                    r["source"].as_str().unwrap().to_string(),
                    r["name"].as_str().unwrap().to_string(),
                    r["version"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let row = |source: &str, name: &str| (source.to_string(), name.to_string(), "0.1.0".into());
    // Nothing beside the installed dtm, nothing cached yet.
    assert_eq!(rows(&v), [row("registry", "exec"), row("registry", "file")]);

    w.installed(&["show", "config", "-p", "file"]).ok();
    let v = w.installed(&["list", "plugins", "-o", "json"]).ok().json();
    assert_eq!(
        rows(&v),
        [
            row("cache", "file"),
            row("registry", "exec"),
            row("registry", "file")
        ]
    );
    assert_eq!(
        v["plugins"][0]["path"],
        w.cached_lib().display().to_string()
    );
    let text = w.installed(&["list", "plugins"]).ok().stdout();
    assert!(
        text.contains(&format!(
            "Installed in {}:\n  file ",
            w.home().join("plugins").display()
        )) && text.contains(&format!("Published in {registry}:\n  exec ")),
        "{text}"
    );

    // A registry nobody answers for: what is local is listed, with a warning.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = format!("http://127.0.0.1:{port}");
    let out = w
        .installed(&["list", "plugins", "-o", "json", "--registry", &unreachable])
        .ok();
    assert!(
        String::from_utf8_lossy(&out.0.stderr).contains("warning: cannot read registry"),
        "{}",
        out.all()
    );
    let v = out.json();
    assert_eq!(rows(&v), [row("cache", "file")]);
    let warning = v["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains(&format!("cannot read registry {unreachable}"))
            && warning.contains("listing only the plugins found locally"),
        "{v}"
    );
}

#[test]
fn an_unknown_plugin_with_a_registry_is_named_at_its_tool() {
    let w = World::new();
    let srv = Server::start(&w.registry());
    let p = w.project("p", &srv.url());
    let config = std::fs::read_to_string(p.join("dtm.yaml")).unwrap();
    std::fs::write(
        p.join("dtm.yaml"),
        config.replace("- name: file\n", "- name: fille\n"),
    )
    .unwrap();
    for command in ["init", "plan"] {
        let err = w.in_project(&p, &[command, "-f", "dtm.yaml"]).fails();
        assert!(
            err.contains(
                "dtm.yaml:4:3: `fille.motd`: unknown plugin `fille`; did you mean `file`?"
            ) && err.contains(&format!("and registry {}", srv.url())),
            "{command}: {err}"
        );
    }
}
