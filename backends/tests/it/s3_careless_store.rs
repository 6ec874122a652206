//! The S3 backend against a store that accepts the conditional headers and ignores them (as
//! s3rver and Garage do): dtm must notice and refuse to run, unless told to run unlocked.
//!
//! The store is a few lines of HTTP in this file, on loopback: it needs no test server.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;

use dtm_backends::conformance::{describe, ok, sample_lock};
use dtm_backends::s3::S3Backend;
use dtm_backends::{Backend, BackendError};
use serde_json::{Map, Value, json};

type Objects = Arc<Mutex<(u64, HashMap<String, (Vec<u8>, String)>)>>;

/// Starts the careless store; returns its endpoint.
fn careless_store() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let objects: Objects = Arc::default();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let objects = Arc::clone(&objects);
            thread::spawn(move || serve(stream, &objects));
        }
    });
    endpoint
}

fn serve(stream: TcpStream, objects: &Objects) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts
            .next()
            .unwrap_or_default()
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut objects = objects.lock().unwrap();
        let (status, etag, answer): (&str, Option<String>, Vec<u8>) = match method.as_str() {
            // Every header is ignored, If-None-Match and If-Match included.
            "PUT" => {
                objects.0 += 1;
                let etag = format!("\"v{}\"", objects.0);
                objects.1.insert(path, (body, etag.clone()));
                ("200 OK", Some(etag), Vec::new())
            }
            "GET" | "HEAD" => match objects.1.get(&path) {
                Some((bytes, etag)) => ("200 OK", Some(etag.clone()), bytes.clone()),
                None => (
                    "404 Not Found",
                    None,
                    b"<Error><Code>NoSuchKey</Code><Message>no such key</Message></Error>".to_vec(),
                ),
            },
            "DELETE" => {
                objects.1.remove(&path);
                ("204 No Content", None, Vec::new())
            }
            _ => ("405 Method Not Allowed", None, Vec::new()),
        };
        drop(objects);
        let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", answer.len());
        if let Some(etag) = etag {
            head.push_str(&format!("ETag: {etag}\r\n"));
        }
        head.push_str("\r\n");
        writer.write_all(head.as_bytes()).unwrap();
        if method != "HEAD" {
            writer.write_all(&answer).unwrap();
        }
    }
}

/// The AWS SDK signs every request, so it needs credentials, any: scripts/test-servers.sh sets
/// them with the servers.
fn have_credentials() -> bool {
    common::server_var(
        "AWS_ACCESS_KEY_ID",
        "AWS credentials (any; `scripts/test-servers.sh env` sets test ones)",
    )
    .is_some()
}

fn options(endpoint: &str, key: &str, unsafe_ok: bool) -> Map<String, Value> {
    match json!({
        "bucket": "b",
        "key": key,
        "endpoint": endpoint,
        "forcePathStyle": true,
        "region": "us-east-1",
        "allowUnsafeNoLocking": unsafe_ok,
    }) {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

fn open(options: &Map<String, Value>) -> S3Backend {
    S3Backend::from_options(options, Path::new(".")).unwrap()
}

#[test]
fn a_store_ignoring_conditional_writes_is_refused() {
    if !have_credentials() {
        return;
    }
    let endpoint = careless_store();
    let backend = open(&options(&endpoint, "team/state", false));
    for (what, result) in [
        ("write", backend.write(b"state", None).map(|_| ())),
        ("lock", backend.lock(&sample_lock("x")).map(|_| ())),
    ] {
        match result {
            Err(error @ BackendError::Remote { .. }) => {
                let message = error.to_string();
                assert!(
                    message.contains("does not honour conditional writes")
                        && message.contains("If-None-Match")
                        && message.contains("allowUnsafeNoLocking: true"),
                    "{what}: {message}"
                );
            }
            other => panic!("{what}: expected a Remote error, got {}", describe(&other)),
        }
    }
    assert!(
        ok(backend.read(), "reading").is_none(),
        "nothing was written"
    );
}

#[test]
fn allow_unsafe_no_locking_runs_and_still_catches_what_it_can() {
    if !have_credentials() {
        return;
    }
    let endpoint = careless_store();
    let options = options(&endpoint, "team/unsafe", true);
    let first = open(&options);
    let second = open(&options);

    let base = ok(first.write(b"base", None), "first write");
    ok(first.write(b"newer", Some(&base)), "second write");
    // A write based on an old read is still refused (checked before writing, not atomically).
    match second.write(b"stale", Some(&base)) {
        Err(BackendError::Conflict { .. }) => {}
        other => panic!("expected Conflict, got {}", describe(&other)),
    }
    ok(first.lock(&sample_lock("held")), "locking");
    match second.lock(&sample_lock("other")) {
        Err(BackendError::Locked { holder, .. }) => assert_eq!(holder.id, "held"),
        other => panic!("expected Locked, got {}", describe(&other)),
    }
    ok(first.unlock("held"), "unlocking");
}
