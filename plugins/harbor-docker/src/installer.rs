//! Harbor's installer, step by step as its `install.sh` and `prepare` scripts run it (and as
//! DevStream ran them): write `harbor.yml`, run the `goharbor/prepare` image to generate
//! `docker-compose.yml` and the components' configuration, then `docker-compose up -d`; and
//! what the Compose project's containers look like afterwards.

use std::path::{Path, PathBuf};

use dtm_docker_support::program::{Run, locate, strings};
use dtm_docker_support::{Docker, DockerError, Look, readiness};
use dtm_plugin_sdk::prelude::*;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::options::Options;

/// The image of Harbor's `prepare` step, of the installer DevStream embedded (v2.4.3).
pub const PREPARE_IMAGE: &str = "goharbor/prepare:v2.4.3";
/// The Compose project name (Harbor's installer directory is called `harbor`).
pub const PROJECT: &str = "harbor";
const PROJECT_LABEL: &str = "com.docker.compose.project";
const WORKDIR_LABEL: &str = "com.docker.compose.project.working_dir";
const CONFIG_FILE: &str = "harbor.yml";
const COMPOSE_FILE: &str = "docker-compose.yml";

/// The docker and Compose programs and the install directory of one tool.
#[derive(Debug)]
pub struct Installer {
    /// The docker program.
    pub docker: Docker,
    compose: Vec<String>,
    compose_program: PathBuf,
    /// The install directory (absolute).
    pub dir: PathBuf,
}

/// `sha256:HEX` of a `harbor.yml`, its password values left out: the digest lands in state,
/// and a digest of a known file around a weak password could be searched for it.
fn digest(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let mut hasher = Sha256::new();
    for line in text.lines() {
        let key = line.trim_start();
        if key.starts_with("harbor_admin_password:") || key.starts_with("password:") {
            let cut = line.find(':').map_or(line.len(), |i| i + 1);
            hasher.update(&line.as_bytes()[..cut]);
        } else {
            hasher.update(line.as_bytes());
        }
        hasher.update(b"\n");
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

impl Installer {
    /// Locates the programs the options name.
    pub fn new(options: &Options, workdir: &Path) -> Result<Installer, PluginError> {
        let docker = Docker::locate(
            options.docker.as_deref(),
            options.docker_host.as_deref(),
            workdir,
        )?;
        let (compose_program, compose) = match options.docker_compose.as_deref() {
            Some(p) if !p.trim().is_empty() => {
                let program = locate(p, workdir).ok_or(DockerError::NotFound {
                    wanted: p.to_owned(),
                    from: "the `dockerCompose` option",
                    option: "dockerCompose",
                })?;
                (program, Vec::new())
            }
            _ => match locate("docker-compose", workdir) {
                Some(program) => (program, Vec::new()),
                None => (docker.program().to_path_buf(), vec!["compose".to_owned()]),
            },
        };
        Ok(Installer {
            docker,
            compose,
            compose_program,
            dir: options.dir(workdir),
        })
    }

    /// The digest of the `harbor.yml` on disk, `None` when there is none.
    pub fn config_digest(&self) -> Option<String> {
        std::fs::read(self.dir.join(CONFIG_FILE))
            .ok()
            .map(|text| digest(&text))
    }

    /// Whether `harbor.yml` on disk is what `options` make.
    pub fn config_current(&self, options: &Options) -> bool {
        std::fs::read_to_string(self.dir.join(CONFIG_FILE))
            .is_ok_and(|text| text == options.harbor_yml())
    }

    /// Whether `prepare` has generated the Compose file.
    pub fn prepared(&self) -> bool {
        self.dir.join(COMPOSE_FILE).is_file()
    }

    /// Writes `harbor.yml` into the install directory.
    pub fn write_config(&self, options: &Options) -> Result<(), PluginError> {
        let path = self.dir.join(CONFIG_FILE);
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| PluginError::io(format!("creating {}", self.dir.display()), &e))?;
        std::fs::write(&path, options.harbor_yml())
            .map_err(|e| PluginError::io(format!("writing {}", path.display()), &e))
    }

    /// Harbor's `prepare` script: copies `harbor.yml` into `input/`, runs the prepare image
    /// with the same mounts, and removes `input/` again.
    pub fn prepare(&self, ctx: &Ctx<'_>, options: &Options) -> Result<(), PluginError> {
        let input = self.dir.join("input");
        let io = |what: String| move |e: std::io::Error| PluginError::io(what, &e);
        let _ = std::fs::remove_dir_all(&input);
        std::fs::create_dir_all(&input).map_err(io(format!("creating {}", input.display())))?;
        std::fs::copy(self.dir.join(CONFIG_FILE), input.join(CONFIG_FILE))
            .map_err(io(format!("copying harbor.yml into {}", input.display())))?;
        let config = self.dir.join("common").join("config");
        std::fs::create_dir_all(&config).map_err(io(format!("creating {}", config.display())))?;
        let volume = |host: &Path, at: &str| format!("{}:{at}", host.display());
        let mut args = strings(&["run", "--rm"]);
        for v in [
            volume(&input, "/input"),
            volume(Path::new(&options.data_volume), "/data"),
            volume(&self.dir, "/compose_location"),
            volume(&config, "/config"),
            "/:/hostfs".to_owned(),
        ] {
            args.push("--volume".into());
            args.push(v);
        }
        args.extend(strings(&["--privileged", PREPARE_IMAGE, "prepare"]));
        self.docker.ensure_image(ctx, PREPARE_IMAGE)?;
        ctx.info(format!(
            "preparing Harbor's configuration with {PREPARE_IMAGE}"
        ));
        let ran = self.docker.run(ctx, &args);
        let _ = std::fs::remove_dir_all(&input);
        ran?;
        if !self.prepared() {
            return Err(PluginError::internal(format!(
                "{PREPARE_IMAGE} ran but wrote no {COMPOSE_FILE} into {}",
                self.dir.display()
            )));
        }
        Ok(())
    }

    fn compose(&self, ctx: &Ctx<'_>, args: &[&str]) -> Result<(), PluginError> {
        let mut all = self.compose.clone();
        all.extend(strings(&[
            "--project-name",
            PROJECT,
            "--file",
            COMPOSE_FILE,
        ]));
        all.extend(strings(args));
        let run = Run {
            program: &self.compose_program,
            name: "docker-compose",
            dir: Some(&self.dir),
            host: self.docker.host(),
        };
        run.run(ctx, &all)?;
        Ok(())
    }

    /// `docker-compose up -d`.
    pub fn up(&self, ctx: &Ctx<'_>) -> Result<(), PluginError> {
        ctx.info("starting Harbor (docker-compose up -d)");
        self.compose(ctx, &["up", "--detach"])
    }

    /// `docker-compose down -v`, as DevStream's delete and Harbor's installer ran it.
    pub fn down(&self, ctx: &Ctx<'_>) -> Result<(), PluginError> {
        ctx.info("stopping Harbor (docker-compose down -v)");
        self.compose(ctx, &["down", "--volumes"])
    }

    /// The project's containers as `docker inspect` reports them, by name.
    pub fn containers(&self, ctx: &Ctx<'_>) -> Result<Vec<Value>, PluginError> {
        let names = self
            .docker
            .containers_labelled(ctx, &format!("{PROJECT_LABEL}={PROJECT}"))?;
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            if let Some(live) = self.docker.inspect_container(ctx, &name)? {
                out.push(live);
            }
        }
        Ok(out)
    }

    /// Whether containers of the project exist that Compose started from another directory
    /// (another Harbor on this engine); their directory if so.
    pub fn foreign(&self, containers: &[Value]) -> Option<String> {
        let ours = self.dir.display().to_string();
        containers
            .iter()
            .filter_map(|c| {
                c.pointer("/Config/Labels")
                    .and_then(|l| l.get(WORKDIR_LABEL))
                    .and_then(Value::as_str)
            })
            .find(|dir| dir.trim_end_matches('/') != ours.trim_end_matches('/'))
            .map(str::to_owned)
    }

    /// The status recorded and read: the `harbor.yml` digest and, per container, its image and
    /// whether it runs.
    pub fn status(&self, containers: &[Value]) -> Value {
        let map: Map<String, Value> = containers
            .iter()
            .map(|c| {
                let text = |p: &str| c.pointer(p).and_then(Value::as_str).unwrap_or_default();
                (
                    text("/Name").trim_start_matches('/').to_owned(),
                    json!({
                        "image": text("/Config/Image"),
                        "running": c.pointer("/State/Running").and_then(Value::as_bool) == Some(true),
                    }),
                )
            })
            .collect();
        json!({
            "config": self.config_digest().unwrap_or_else(|| "missing".into()),
            "containers": map,
        })
    }

    /// Readiness of the whole project: every container running and healthy.
    pub fn look(&self, ctx: &Ctx<'_>) -> Result<Look, PluginError> {
        let containers = self.containers(ctx)?;
        if containers.is_empty() {
            return Ok(Look::Failed(format!(
                "no container of the Compose project `{PROJECT}` exists"
            )));
        }
        let total = containers.len();
        let mut waiting = Vec::new();
        for c in &containers {
            match readiness(c) {
                Look::Ready => {}
                Look::Waiting(why) => waiting.push(why),
                failed @ Look::Failed(_) => return Ok(failed),
            }
        }
        if waiting.is_empty() {
            return Ok(Look::Ready);
        }
        Ok(Look::Waiting(format!(
            "{} of {total} Harbor containers ready; {}",
            total - waiting.len(),
            waiting.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_started_from_another_directory_is_foreign() {
        let options: Options = serde_json::from_value(json!({"hostname": "harbor.example.com"}))
            .unwrap_or_else(|e| panic!("{e}"));
        let inst = Installer {
            docker: Docker::locate(Some("/bin/sh"), None, Path::new("/"))
                .unwrap_or_else(|e| panic!("{e}")),
            compose: Vec::new(),
            compose_program: PathBuf::from("/bin/sh"),
            dir: options.dir(Path::new("/srv/dtm")),
        };
        let started_in = |dir: &str| json!({"Config": {"Labels": {WORKDIR_LABEL: dir}}});
        assert_eq!(inst.foreign(&[started_in("/srv/dtm/harbor/")]), None);
        assert_eq!(
            inst.foreign(&[started_in("/opt/harbor")]),
            Some("/opt/harbor".to_owned())
        );
    }

    #[test]
    fn the_status_digest_leaves_the_passwords_out() {
        let a =
            digest(b"hostname: x\nharbor_admin_password: \"one\"\ndatabase:\n  password: \"a\"\n");
        let b =
            digest(b"hostname: x\nharbor_admin_password: \"two\"\ndatabase:\n  password: \"b\"\n");
        assert_eq!(a, b);
        assert_ne!(a, digest(b"hostname: y\n"));
    }
}
