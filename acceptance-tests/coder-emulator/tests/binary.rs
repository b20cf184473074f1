//! The `coder-emulator` binary: announces its URL, writes the URL file, serves, and exits cleanly
//! on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn announces_serves_and_stops_on_sigterm() {
    let dir = tempfile_dir();
    let url_file = dir.join("url");
    let mut child = Command::new(env!("CARGO_BIN_EXE_coder-emulator"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--token",
            "bin-token",
            "--version",
            "1.30.0",
            "--url-file",
        ])
        .arg(&url_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    assert_eq!(std::fs::read_to_string(&url_file).unwrap().trim(), url);

    // A raw HTTP/1.1 request, to depend on nothing but std here.
    let address = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET /api/private/version HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(r#"{"version":"1.30.0"}"#), "{answer}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn refuses_a_non_loopback_address() {
    let output = Command::new(env!("CARGO_BIN_EXE_coder-emulator"))
        .args(["--listen", "0.0.0.0:0", "--token", "t"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("loopback"));
    assert!(output.stdout.is_empty());
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("coder-emulator-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
