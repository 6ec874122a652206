//! [[ appName ]]: a small HTTP service built on the standard library.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

/// The status line and body for a request path.
fn respond(path: &str) -> (&'static str, String) {
    match path {
        "/" => (
            "200 OK",
            r#"{"service":"[[ appName ]]","status":"ok"}"#.to_string(),
        ),
        "/healthz" => ("200 OK", "ok".to_string()),
        _ => ("404 Not Found", "not found".to_string()),
    }
}

fn handle(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = respond(path);
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "[[ port ]]".to_string());
    let listener = TcpListener::bind(("0.0.0.0", port.parse::<u16>().unwrap_or([[ port ]])))?;
    eprintln!("[[ appName ]] listening on :{port}");
    for stream in listener.incoming() {
        if let Err(e) = stream.and_then(handle) {
            eprintln!("request failed: {e}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::respond;

    #[test]
    fn root_reports_the_service() {
        let (status, body) = respond("/");
        assert_eq!(status, "200 OK");
        assert!(body.contains("[[ appName ]]"));
    }

    #[test]
    fn unknown_paths_are_404() {
        assert_eq!(respond("/nope").0, "404 Not Found");
    }
}
