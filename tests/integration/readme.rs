//! The README's walk-through, run as written against a fresh demo: every
//! command of its shell blocks runs in order (in one bash, so variables
//! carry over), and every `# → text` line under a command must appear in
//! what that command printed. The README and the demo stay in step.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::*;

/// One command of the walk-through and what it must print.
#[derive(Debug)]
struct Step {
    /// The README line the command starts on.
    line: usize,
    command: String,
    expect: Vec<String>,
}

/// The steps of the section `## Walk-through of the demo`.
fn steps(readme: &str) -> Vec<Step> {
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Walk-through of the demo"))
        .expect("the README has a walk-through");
    let first_line = readme[..readme.find(section).unwrap()].lines().count();
    let mut steps: Vec<Step> = Vec::new();
    let mut in_block = false;
    let mut open = false;
    for (i, line) in section.lines().enumerate() {
        if line.starts_with("```") {
            in_block = line == "```sh";
            open = false;
            continue;
        }
        if !in_block {
            continue;
        }
        let trimmed = line.trim_start();
        if let Some(expected) = trimmed.strip_prefix("# → ") {
            steps
                .last_mut()
                .expect("an expectation follows a command")
                .expect
                .push(expected.to_owned());
            open = false;
        } else if trimmed.is_empty() || trimmed.starts_with('#') {
            open = false;
        } else if open {
            let step = steps.last_mut().unwrap();
            step.command.push('\n');
            step.command.push_str(line);
        } else {
            steps.push(Step {
                line: first_line + i + 1,
                command: line.to_owned(),
                expect: Vec::new(),
            });
            open = true;
        }
    }
    steps
}

/// Starts `kiroku demo` (its defaults, as `cargo xtask demo` runs it) on a
/// free port; returns the server, its address and the export line it printed.
fn demo(data: &Path) -> (RealServer, String) {
    let root = root();
    let child = kiroku()
        .args([
            "demo",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--plugins",
            root.join("target/wasm32-wasip2/release").to_str().unwrap(),
            "--policies",
            root.join("policies").to_str().unwrap(),
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Owned by a RealServer at once: killed however this ends.
    let mut server = RealServer {
        child,
        addr: String::new(),
        stdout: None,
    };
    let mut out = BufReader::new(server.child.stdout.take().unwrap());
    let mut export = None;
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the demo ended early"
        );
        if line.starts_with("export CLERK=") {
            export = Some(line.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix("kiroku listening on http://") {
            server.addr = rest.split_whitespace().next().unwrap().to_owned();
            server.wait_ready();
            return (server, export.expect("the demo printed an export line"));
        }
    }
}

#[test]
fn the_walk_through_answers_as_the_readme_says() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let steps = steps(&readme);
    assert!(steps.len() > 30, "{} steps", steps.len());
    let data = tempfile::tempdir().unwrap();
    let (server, export) = demo(&data.path().join("data"));
    // A scratch working directory that sees the repository's examples and
    // build output, as a reader in a fresh clone does.
    let work = data.path().join("work");
    std::fs::create_dir(&work).unwrap();
    for link in ["examples", "target", "policies"] {
        std::os::unix::fs::symlink(root().join(link), work.join(link)).unwrap();
    }
    let outputs = work.join(".outputs");
    std::fs::create_dir(&outputs).unwrap();
    let mut script = String::new();
    for (n, step) in steps.iter().enumerate() {
        // The placeholder line takes what the demo printed; the port is ours.
        let command: Vec<String> = step
            .command
            .lines()
            .map(|l| match l.starts_with("export CLERK=") {
                true => export.clone(),
                false => l
                    .replace("localhost:8080", &server.addr)
                    .replace("127.0.0.1:8080", &server.addr),
            })
            .collect();
        let command = command.join("\n");
        script.push_str(&format!("{{\n{command}\n}} > .outputs/{n} 2>&1\n"));
    }
    // Each step's exit status is not checked (curl -s succeeds on an
    // error answer); what it printed is.
    Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&work)
        .status()
        .unwrap();
    let show = std::env::var_os("README_SHOW").is_some();
    let mut wrong = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        let printed = std::fs::read_to_string(outputs.join(n.to_string())).unwrap_or_default();
        if show {
            eprintln!(
                "--- README.md:{} {}\n{}",
                step.line,
                step.command,
                printed.chars().take(600).collect::<String>()
            );
        }
        for expected in &step.expect {
            if !printed.contains(expected.as_str()) {
                wrong.push(format!(
                    "README.md:{}: `{}` printed\n  {}\nwithout\n  {expected}",
                    step.line,
                    step.command.lines().next().unwrap(),
                    printed.chars().take(400).collect::<String>()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    let checked = steps.iter().filter(|s| !s.expect.is_empty()).count();
    assert!(checked * 2 > steps.len(), "most steps say what they answer");
}
