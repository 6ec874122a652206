//! The `harbor-docker` plugin: installs Harbor on one Docker host the way DevStream's plugin of
//! that name did, with Harbor's own installer steps (write `harbor.yml`, run Harbor's `prepare`
//! image, `docker-compose up -d`), waits until every Harbor container is healthy, reports the
//! containers (a stopped or removed one is drift) and takes them down with
//! `docker-compose down -v`.
//!
//! See `docs/plugins/harbor-docker.md`.
#![forbid(unsafe_code)]

mod installer;
mod options;

use std::path::Path;

use dtm_docker_support::{Deadline, Wait};
use dtm_plugin_sdk::prelude::*;
use serde_json::Value;

pub use installer::{Installer, PREPARE_IMAGE, PROJECT};
pub use options::Options;

/// The `harbor-docker` plugin.
#[derive(Debug, Default)]
pub struct HarborDocker;

fn installer(req: &Req<Options>) -> Result<Installer, PluginError> {
    Installer::new(&req.options, Path::new(&req.workdir))
}

fn finished(status: Value, req: &Req<Options>) -> Done {
    Done::new(status)
        .output("url", req.options.url())
        .output("hostname", req.options.hostname.clone())
        .output(
            "installDir",
            req.options
                .dir(Path::new(&req.workdir))
                .display()
                .to_string(),
        )
}

fn with_outputs(step: Step, req: &Req<Options>) -> Step {
    match step {
        Step::Done(done) => finished(done.status, req).into(),
        pending => pending,
    }
}

impl HarborDocker {
    fn wait(&self, req: &Req<Options>) -> Result<Wait, PluginError> {
        let timeout = req.options.timeout()?;
        Ok(Wait {
            enabled: req.options.wait,
            timeout,
            deadline: Deadline::after(timeout),
            what: format!("Harbor (Compose project `{PROJECT}`)"),
            hint: "see `docker-compose logs` in the install directory".into(),
        })
    }

    /// Harbor's installer: a new or changed `harbor.yml` is prepared again and replaces a
    /// running Harbor (`down -v`, as `install.sh` does); then `up -d` starts what is missing.
    fn install(
        &self,
        ctx: &Ctx<'_>,
        inst: &Installer,
        req: &Req<Options>,
    ) -> Result<(), PluginError> {
        let containers = inst.containers(ctx)?;
        if let Some(dir) = inst.foreign(&containers) {
            return Err(PluginError::conflict(format!(
                "another Harbor runs on this Docker engine: the Compose project `{PROJECT}` was \
                 started from {dir}, not from {}; take it down there (`docker-compose down`), or \
                 point `installDir` at {dir} to let {} manage it",
                inst.dir.display(),
                req.instance
            )));
        }
        let changed = !inst.config_current(&req.options);
        if changed || !inst.prepared() {
            inst.write_config(&req.options)?;
            inst.prepare(ctx, &req.options)?;
            if !containers.is_empty() {
                inst.down(ctx)?;
            }
        }
        inst.up(ctx)?;
        ctx.info(format!(
            "Harbor's URL: {}; sign in as `admin` with `harborAdminPassword`",
            req.options.url()
        ));
        Ok(())
    }

    fn converge(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        let inst = installer(req)?;
        let look = || inst.look(ctx);
        if let Some(data) = &req.pending
            && let Some((wait, Some(status))) = self.wait(req)?.resume(Some(data))
        {
            return Ok(with_outputs(wait.poll(ctx, status, look)?, req));
        }
        self.install(ctx, &inst, req)?;
        let status = inst.status(&inst.containers(ctx)?);
        let step = self.wait(req)?.poll(ctx, status, look)?;
        Ok(with_outputs(step, req))
    }
}

impl Plugin for HarborDocker {
    type Options = Options;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "harbor-docker",
            env!("CARGO_PKG_VERSION"),
            "Installs Harbor with its installer (prepare, docker-compose) and waits until it is healthy",
        )
        .output("url", "Harbor's URL, http://HOSTNAME[:httpPort]")
        .output("hostname", "the hostname Harbor is reached at")
        .output("installDir", "the directory of harbor.yml and docker-compose.yml")
    }

    fn validate(&self, _ctx: &Ctx<'_>, options: &Options) -> Result<(), Vec<Problem>> {
        let problems = options.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn create(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        self.converge(ctx, req)
    }

    fn read(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Option<Done>, PluginError> {
        let inst = installer(req)?;
        let containers = inst.containers(ctx)?;
        if containers.is_empty() && inst.config_digest().is_none() {
            return Ok(None);
        }
        Ok(Some(finished(inst.status(&containers), req)))
    }

    fn update(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        self.converge(ctx, req)
    }

    fn delete(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        let inst = installer(req)?;
        let containers = inst.containers(ctx)?;
        if let Some(dir) = inst.foreign(&containers) {
            ctx.warn(format!(
                "not stopping the Harbor started from {dir}: {} did not install it",
                req.instance
            ));
            return Ok(Done::default().into());
        }
        if inst.prepared() {
            inst.down(ctx)?;
        } else {
            for c in &containers {
                let name = c
                    .get("Name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .trim_start_matches('/');
                ctx.info(format!("removing the container `{name}`"));
                inst.docker.remove_container(ctx, name)?;
            }
        }
        Ok(Done::default().into())
    }
}

dtm_plugin_sdk::export_plugin!(HarborDocker, HarborDocker);

#[cfg(test)]
mod tests {
    use super::*;
    use dtm_plugin_sdk::testing::{TestHost, call, request};
    use serde_json::json;

    #[test]
    fn harbor_yml_carries_the_options_and_devstreams_fixed_settings() {
        let o: Options = serde_json::from_value(json!({"hostname": "harbor.example.com"})).unwrap();
        let yml = o.harbor_yml();
        for line in [
            "hostname: \"harbor.example.com\"",
            "http:\n  port: 80\n",
            "harbor_admin_password: \"Harbor12345\"",
            "data_volume: \"/data\"",
            "location: \"/var/log/harbor\"",
            "_version: 2.4.0",
        ] {
            assert!(yml.contains(line), "{line} not in\n{yml}");
        }
        assert_eq!(o.url(), "http://harbor.example.com");
        let o: Options = serde_json::from_value(
            json!({"hostname": "harbor.example.com", "installDir": "./ops/../harbor/"}),
        )
        .unwrap();
        assert_eq!(o.dir(Path::new("/srv/dtm")), Path::new("/srv/dtm/harbor"));
    }

    #[test]
    fn hostname_is_required_and_checked() {
        let validate = |options: Value| {
            call(
                &HarborDocker,
                &TestHost::new(),
                &request(Operation::Validate, "harbor-docker.default", options),
            )
        };
        assert!(matches!(
            validate(json!({"hostname": "harbor.example.com"})),
            Response::Done { .. }
        ));
        let r = validate(json!({"hostname": "localhost", "dataVolume": "data"}));
        let Response::Invalid { problems } = r else {
            panic!("{r:?}")
        };
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["/hostname", "/dataVolume"]);
    }
}
