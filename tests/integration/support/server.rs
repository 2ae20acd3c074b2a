//! `kiroku serve` as a child process on a free loopback port, and raw
//! HTTP/1.1 against it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use super::*;

/// `kiroku serve` on a free loopback port.
pub struct RealServer {
    pub child: Child,
    pub addr: String,
    /// The rest of its stdout (when spawned here).
    pub stdout: Option<BufReader<std::process::ChildStdout>>,
}

impl RealServer {
    /// Starts `kiroku serve` and waits until it is ready.
    pub fn start(data: &Path) -> RealServer {
        let server = RealServer::spawn(data, None);
        server.wait_ready();
        server
    }

    /// Starts `kiroku serve` and returns once it listens (it may still be
    /// loading plugins); its log (`RUST_LOG=info`) goes to `log` if given.
    pub fn spawn(data: &Path, log: Option<&Path>) -> RealServer {
        RealServer::spawn_with_keys(data, None, log)
    }

    /// Starts `kiroku serve` with its keys in `keys` and waits until ready.
    pub fn start_with_keys(data: &Path, keys: &Path) -> RealServer {
        let server = RealServer::spawn_with_keys(data, Some(keys), None);
        server.wait_ready();
        server
    }

    /// `kiroku serve`, with its keys in `keys` when given.
    pub fn spawn_with_keys(data: &Path, keys: Option<&Path>, log: Option<&Path>) -> RealServer {
        let env: Vec<(&str, &std::ffi::OsStr)> = keys
            .map(|k| ("KIROKU_KEYS", k.as_os_str()))
            .into_iter()
            .collect();
        RealServer::spawn_with_env(data, &env, log)
    }

    /// `kiroku serve` with extra environment variables.
    pub fn spawn_with_env(
        data: &Path,
        env: &[(&str, &std::ffi::OsStr)],
        log: Option<&Path>,
    ) -> RealServer {
        let args = [
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ];
        RealServer::spawn_args(&args, env, log)
    }

    /// `kiroku ARGS` (a `serve` or `demo`) with extra environment
    /// variables; returns once it listens. Its further stdout lines are
    /// left in `stdout`.
    pub fn spawn_args(
        args: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
        log: Option<&Path>,
    ) -> RealServer {
        let (filter, stderr) = match log {
            Some(path) => ("info", Stdio::from(std::fs::File::create(path).unwrap())),
            None => ("warn", Stdio::inherit()),
        };
        let mut child = kiroku()
            .args(args)
            .env("RUST_LOG", filter)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "the server ended");
            if line.starts_with("kiroku listening on ") {
                break;
            }
        }
        let addr = line
            .split("://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected line: {line:?}"))
            .to_owned();
        RealServer {
            child,
            addr,
            stdout: Some(stdout),
        }
    }

    /// The metrics listener's address, from the line a server started
    /// with `--metrics-listen` prints next.
    pub fn metrics_addr(&mut self) -> String {
        let mut line = String::new();
        std::io::BufRead::read_line(self.stdout.as_mut().unwrap(), &mut line).unwrap();
        line.strip_prefix("kiroku metrics on http://")
            .and_then(|r| r.strip_suffix("/metrics\n"))
            .unwrap_or_else(|| panic!("no metrics line: {line:?}"))
            .to_owned()
    }

    /// Waits until `/readyz` says every tenant is open and every plugin
    /// loaded (the server binds before it loads them).
    pub fn wait_ready(&self) {
        let until = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < until {
            if self.request("GET", "/readyz", None, "").0 == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the server did not become ready");
    }

    /// The person holding the first ticket of demo person `n`, found by
    /// the counter's `dose-entry/find-person`.
    pub fn find_person(&self, token: &str, n: u64) -> u64 {
        let ticket = kiroku_rules::ticket::for_person(n, 0).unwrap();
        let (status, body) = self.request(
            "POST",
            &format!("/v1/{FUJISAWA}/dose-entry/find-person"),
            Some(token),
            &json!({"ticket_number": ticket}).to_string(),
        );
        assert_eq!(status, 200, "{body}");
        let found: Value = serde_json::from_str(&body).unwrap();
        found["persons"][0]["person_id"]
            .as_u64()
            .unwrap_or_else(|| found["person_id"].as_u64().unwrap())
    }

    /// A person's doses as `dose-entry/list-doses` answers them.
    pub fn doses(&self, token: &str, person: u64) -> Vec<Value> {
        let (status, body) = self.request(
            "POST",
            &format!("/v1/{FUJISAWA}/dose-entry/list-doses"),
            Some(token),
            &json!({ "person_id": person }).to_string(),
        );
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["doses"].as_array().unwrap().clone()
    }

    /// Sends one HTTP/1.1 request; returns status and body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (u16, String) {
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        raw_request(&self.addr, raw.as_bytes())
    }

    /// Logs a staff account in over HTTP with its current code.
    pub fn login(&self, name: &str, secret: &[u8]) -> (u16, String) {
        let code = kiroku::identity::totp::code_at(secret, kiroku::clock::SystemClock.now_ms());
        let body = json!({"name": name, "password": TEST_PASSWORD, "totp": code}).to_string();
        self.request("POST", &format!("/v1/{FUJISAWA}/login"), None, &body)
    }

    /// A request that must answer 200 with JSON: its body.
    pub fn ok_json(&self, method: &str, path: &str, token: &str, body: &str) -> Value {
        let (status, answer) = self.request(method, path, Some(token), body);
        assert_eq!(status, 200, "{method} {path}: {answer}");
        serde_json::from_str(&answer).unwrap()
    }

    /// A new account made by an administrator and enrolled by its holder
    /// with `TEST_PASSWORD`: its TOTP secret, base32 as an app shows it.
    pub fn enrolled(&self, admin: &str, name: &str, role: &str) -> String {
        let body = json!({"name": name, "role": role}).to_string();
        let users = format!("/v1/admin/{FUJISAWA}/users");
        let (status, answer) = self.request("POST", &users, Some(admin), &body);
        assert_eq!(status, 201, "{answer}");
        let code: Value = serde_json::from_str(&answer).unwrap();
        let body = json!({"name": name, "code": code["enrolment_code"], "password": TEST_PASSWORD});
        let enrol = format!("/v1/{FUJISAWA}/enrol");
        let (status, answer) = self.request("POST", &enrol, None, &body.to_string());
        assert_eq!(status, 200, "{answer}");
        let v: Value = serde_json::from_str(&answer).unwrap();
        v["secret"].as_str().unwrap().to_owned()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RealServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Writes raw bytes to `addr` and reads the whole answer (status, body).
pub fn raw_request(addr: &str, bytes: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    parse_response(&response)
}

/// The metrics text of a metrics listener.
pub fn scrape(addr: &str) -> String {
    let raw = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let (status, body) = raw_request(addr, raw.as_bytes());
    assert_eq!(status, 200, "{body}");
    body
}

/// The status and body of a whole HTTP/1.1 answer.
pub fn parse_response(response: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
