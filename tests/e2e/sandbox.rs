//! `chorus sandbox` serves the emulator and refuses bad fault specs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::util::{chorus, output, repo, stderr};

#[test]
fn the_sandbox_serves_until_killed() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = chorus(&repo())
        .args(["sandbox", "--port", &port.to_string(), "--seed", "3"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(b"GET /_sandbox/truth HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            break text;
        }
        assert!(Instant::now() < deadline, "the sandbox did not start");
        std::thread::sleep(Duration::from_millis(100));
    };
    child.kill().unwrap();
    let _ = child.wait();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(
        body.contains("\"seed\":3"),
        "{}",
        &body[..body.len().min(300)]
    );
}

#[test]
fn a_bad_fault_spec_is_a_usage_error() {
    let out = output(chorus(&repo()).args(["sandbox", "--faults", "404=0.5"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--faults"), "{}", stderr(&out));
}
