//! The real Docker engine of scripts/test-servers.sh (dockerd on a private socket, found through
//! DTM_TEST_DOCKER_HOST) and the images the container plugins' tests run on it.
//!
//! No image registry is reachable, so the images are built here, `FROM scratch`, around Debian's
//! static busybox, under the names the plugins ask for: a `gitlab/gitlab-ce` that serves HTTP on
//! port 80 after a slow start and has a health check like GitLab's image, and Harbor's
//! `goharbor/prepare:v2.4.3` (reads `/input/harbor.yml`, writes `docker-compose.yml` and
//! `common/config/core/env` as Harbor's prepare does, for three services) with the component
//! images its Compose file names, each serving HTTP with a health check.
#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "test support: each test uses some of it; tests fail loudly"
)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use crate::common::server_var;

/// Where the images' static busybox comes from (Debian's busybox-static).
const BUSYBOX: &str = "/bin/busybox";

/// The GitLab stand-in: creates its configuration in the mounted `/etc/gitlab` unless one is
/// there, then serves HTTP on 80 after `START_DELAY` seconds. Like the real images it stops on
/// SIGTERM (a shell as PID 1 ignores it unless trapped), so `docker stop` does not wait 10 s.
const GITLAB_SH: &str = r#"B=/bin/busybox
trap 'kill $! 2>/dev/null; exit 0' TERM
$B mkdir -p /etc/gitlab /var/opt/gitlab /var/log/gitlab /www
[ -f /etc/gitlab/gitlab.rb ] || echo "external_url 'http://$($B hostname)'" > /etc/gitlab/gitlab.rb
echo "GitLab stand-in on $($B hostname)" > /www/index.html
$B sleep "${START_DELAY:-0}" & wait
$B httpd -f -p 80 -h /www & wait
"#;

/// Harbor's prepare stand-in: the same inputs and outputs as `goharbor/prepare prepare`.
const PREPARE_SH: &str = r#"B=/bin/busybox
[ "$1" = prepare ] || { echo "usage: prepare" >&2; exit 2; }
[ -f /input/harbor.yml ] || { echo "no /input/harbor.yml" >&2; exit 1; }
host=$($B sed -n 's/^hostname: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /input/harbor.yml)
port=$($B awk '/^http:/{h=1;next} h&&/port:/{print $2; exit}' /input/harbor.yml)
logs=$($B sed -n 's/^ *location: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /input/harbor.yml)
$B mkdir -p /config/core "/hostfs$logs" /data/secret
printf 'EXT_ENDPOINT=http://%s\n' "$host" > /config/core/env
$B cat > /compose_location/docker-compose.yml <<EOF
version: '2.3'
services:
  log:
    image: goharbor/harbor-log:v2.4.3
    container_name: harbor-log
    restart: always
    volumes:
      - $logs/:/var/log/docker/:z
    networks: [harbor]
  core:
    image: goharbor/harbor-core:v2.4.3
    container_name: harbor-core
    restart: always
    env_file: [./common/config/core/env]
    networks: [harbor]
    depends_on: [log]
  proxy:
    image: goharbor/nginx-photon:v2.4.3
    container_name: nginx
    restart: always
    ports: ["$port:8080"]
    networks: [harbor]
    depends_on: [core]
networks:
  harbor:
    external: false
EOF
echo "Generated configuration file: /compose_location/docker-compose.yml"
"#;

/// A Harbor component stand-in: serves its environment on 8080; stops on SIGTERM.
const COMPONENT_SH: &str = r#"B=/bin/busybox
trap 'kill $! 2>/dev/null; exit 0' TERM
$B mkdir -p /www
echo "Harbor stand-in: ${EXT_ENDPOINT:-no endpoint}" > /www/index.html
$B httpd -f -p 8080 -h /www & wait
"#;

fn health(port: u16) -> String {
    format!(
        "HEALTHCHECK --interval=1s --timeout=3s --retries=2 CMD [\"/bin/busybox\", \"wget\", \
         \"-q\", \"-O\", \"/dev/null\", \"http://127.0.0.1:{port}/\"]"
    )
}

/// The engine of the tests.
pub(crate) struct Engine {
    /// Its address, for the plugins' `dockerHost` and the docker client.
    pub host: String,
}

impl Engine {
    /// The test engine, or `None` when the test servers are skipped.
    pub(crate) fn from_env() -> Option<Engine> {
        let host = server_var("DTM_TEST_DOCKER_HOST")?;
        assert!(
            Path::new(BUSYBOX).is_file(),
            "{BUSYBOX} is missing: install Debian's busybox-static (the test images are built \
             around it)"
        );
        Some(Engine { host })
    }

    /// `docker ARGS` against the engine.
    pub(crate) fn try_docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", &self.host)
            .output()
            .unwrap()
    }

    /// `docker ARGS`, which must succeed; its standard output.
    #[track_caller]
    pub(crate) fn docker(&self, args: &[&str]) -> String {
        let out = self.try_docker(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// `docker container inspect NAME`, `None` when there is no such container.
    pub(crate) fn inspect(&self, name: &str) -> Option<Value> {
        let out = self.try_docker(&["container", "inspect", name]);
        if !out.status.success() {
            return None;
        }
        let list: Value = serde_json::from_slice(&out.stdout).unwrap();
        list.get(0).cloned()
    }

    /// Removes containers, whether or not they exist.
    pub(crate) fn remove(&self, names: &[&str]) {
        for name in names {
            let _ = self.try_docker(&["container", "rm", "--force", name]);
        }
    }

    /// Builds `tags` from `dockerfile` with busybox and `files` in the context.
    fn build(&self, tags: &[&str], dockerfile: &str, files: &[(&str, &str)]) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(BUSYBOX, dir.path().join("busybox")).unwrap();
        std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let mut args = vec!["build", "--quiet"];
        for tag in tags {
            args.extend(["--tag", tag]);
        }
        args.push(dir.path().to_str().unwrap());
        self.docker(&args);
    }

    /// The GitLab stand-in images: `gitlab/gitlab-ce:dtm-test-a` and `-b` (healthy after a
    /// start of `START_DELAY` seconds, 4 by default) and `dtm-test-sick` (never healthy).
    pub(crate) fn gitlab_images(&self) {
        static BUILT: OnceLock<()> = OnceLock::new();
        static LOCK: Mutex<()> = Mutex::new(());
        let _guard = LOCK.lock().unwrap();
        BUILT.get_or_init(|| {
            let base = "FROM scratch\nCOPY busybox /bin/busybox\nCOPY gitlab.sh /gitlab.sh\n\
                        ENV START_DELAY=4\nENTRYPOINT [\"/bin/busybox\", \"sh\", \"/gitlab.sh\"]\n";
            let files = [("gitlab.sh", GITLAB_SH)];
            self.build(
                &["gitlab/gitlab-ce:dtm-test-a", "gitlab/gitlab-ce:dtm-test-b"],
                &format!("{base}{}\n", health(80)),
                &files,
            );
            self.build(
                &["gitlab/gitlab-ce:dtm-test-sick"],
                &format!(
                    "{base}HEALTHCHECK --interval=1s --retries=1 CMD [\"/bin/busybox\", \
                     \"false\"]\n"
                ),
                &files,
            );
        });
    }

    /// Harbor's prepare image and component images (v2.4.3) as stand-ins.
    pub(crate) fn harbor_images(&self) {
        static BUILT: OnceLock<()> = OnceLock::new();
        static LOCK: Mutex<()> = Mutex::new(());
        let _guard = LOCK.lock().unwrap();
        BUILT.get_or_init(|| {
            self.build(
                &["goharbor/prepare:v2.4.3"],
                "FROM scratch\nCOPY busybox /bin/busybox\nCOPY prepare.sh /prepare.sh\n\
                 ENTRYPOINT [\"/bin/busybox\", \"sh\", \"/prepare.sh\"]\n",
                &[("prepare.sh", PREPARE_SH)],
            );
            self.build(
                &[
                    "goharbor/harbor-log:v2.4.3",
                    "goharbor/harbor-core:v2.4.3",
                    "goharbor/nginx-photon:v2.4.3",
                ],
                &format!(
                    "FROM scratch\nCOPY busybox /bin/busybox\nCOPY serve.sh /serve.sh\n\
                     ENTRYPOINT [\"/bin/busybox\", \"sh\", \"/serve.sh\"]\n{}\n",
                    health(8080)
                ),
                &[("serve.sh", COMPONENT_SH)],
            );
        });
    }
}

/// A free TCP port on loopback (bound and released; a small race is acceptable in tests).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The body of `http://127.0.0.1:PORT/`, through the port the engine published.
pub(crate) fn http_get(port: u16) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}
