//! The `gitlab-ce-docker` plugin: runs GitLab CE as one container of the `gitlab/gitlab-ce`
//! image, as DevStream's plugin of that name did (`docker run --hostname … --publish …
//! --restart always --volume … --shm-size 256m`), waits until its health check passes, reports
//! the container's configuration and whether it runs, and removes it (and, when asked, its
//! data).
//!
//! Docker is driven through its command-line client; see `docs/plugins/gitlab-ce-docker.md`.
#![forbid(unsafe_code)]

mod options;

use dtm_docker_support::container::readiness;
use dtm_docker_support::{Deadline, Docker, Look, Wait, observe, owner};
use dtm_plugin_sdk::prelude::*;
use serde_json::Value;

pub use options::Options;

/// The `gitlab-ce-docker` plugin.
#[derive(Debug, Default)]
pub struct GitlabCeDocker;

/// The container's name: where dtm recorded it, else the options'.
fn recorded_name(req: &Req<Options>) -> String {
    req.status
        .get("container")
        .and_then(Value::as_str)
        .unwrap_or(&req.options.container_name)
        .to_owned()
}

fn docker(req: &Req<Options>) -> Result<Docker, PluginError> {
    let workdir = std::path::Path::new(&req.workdir);
    Ok(Docker::locate(
        req.options.docker.as_deref(),
        req.options.docker_host.as_deref(),
        workdir,
    )?)
}

/// The recorded status with the outputs derived from the options.
fn finished(status: Value, options: &Options) -> Done {
    let (ssh, http, https) = options.ports();
    Done::new(status)
        .output("url", options.url())
        .output("container", options.container_name.clone())
        .output("hostname", options.hostname.clone())
        .output("sshPort", ssh)
        .output("httpPort", http)
        .output("httpsPort", https)
}

fn with_outputs(step: Step, options: &Options) -> Step {
    match step {
        Step::Done(done) => finished(done.status, options).into(),
        pending => pending,
    }
}

/// A container named `name` exists that `instance` did not create.
fn not_ours(name: &str, instance: &str, live: &Value) -> PluginError {
    let label = owner(live).map_or_else(
        || "no dtm label".to_owned(),
        |o| format!("the dtm label of `{o}`"),
    );
    PluginError::conflict(format!(
        "a container named `{name}` exists that {instance} did not create ({label}): remove it \
         with `docker rm -f {name}` if it is an old GitLab you no longer need, or give this tool \
         another `containerName`"
    ))
}

impl GitlabCeDocker {
    fn wait(&self, req: &Req<Options>) -> Result<Wait, PluginError> {
        let timeout = req.options.timeout()?;
        let name = &req.options.container_name;
        Ok(Wait {
            enabled: req.options.wait,
            timeout,
            deadline: Deadline::after(timeout),
            what: format!("the GitLab container `{name}`"),
            hint: format!("GitLab can take several minutes to start; see `docker logs {name}`"),
        })
    }

    /// Makes the container run as the options say: creates it, starts it when stopped, or
    /// replaces it when its configuration differs. Data directories are kept.
    fn install(
        &self,
        ctx: &Ctx<'_>,
        docker: &Docker,
        req: &Req<Options>,
    ) -> Result<(), PluginError> {
        let spec = req.options.spec(&req.instance);
        let previous = recorded_name(req);
        if previous != spec.name
            && let Some(live) = docker.inspect_container(ctx, &previous)?
            && owner(&live) == Some(req.instance.as_str())
        {
            ctx.info(format!(
                "removing the container `{previous}`: it is now `{}`",
                spec.name
            ));
            docker.remove_container(ctx, &previous)?;
        }
        for (dir, _) in req.options.data_dirs() {
            std::fs::create_dir_all(&dir)
                .map_err(|e| PluginError::io(format!("creating GitLab's directory {dir}"), &e))?;
        }
        match docker.inspect_container(ctx, &spec.name)? {
            Some(live) if owner(&live) != Some(req.instance.as_str()) => {
                return Err(not_ours(&spec.name, &req.instance, &live));
            }
            Some(live) if spec.matches(&live) => {
                if live.pointer("/State/Running").and_then(Value::as_bool) != Some(true) {
                    ctx.info(format!("starting the stopped container `{}`", spec.name));
                    docker.start_container(ctx, &spec.name)?;
                }
                return Ok(());
            }
            Some(_) => {
                ctx.info(format!(
                    "replacing the container `{}`: its configuration differs from the options \
                     (GitLab's data under {} is kept)",
                    spec.name, req.options.gitlab_home
                ));
                docker.remove_container(ctx, &spec.name)?;
            }
            None => {}
        }
        docker.ensure_image(ctx, &spec.image)?;
        ctx.info(format!(
            "running the container `{}` ({})",
            spec.name, spec.image
        ));
        if let Err(e) = docker.run(ctx, &spec.run_args()) {
            // `docker run` may leave a created container behind (a port in use, say).
            let _ = docker.remove_container(ctx, &spec.name);
            return Err(e.into());
        }
        ctx.info(format!(
            "GitLab's URL: {}; to set the root password: `docker exec -it {} gitlab-rake \
             \"gitlab:password:reset\"`",
            req.options.url(),
            spec.name
        ));
        Ok(())
    }

    fn converge(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        let docker = docker(req)?;
        let name = req.options.container_name.clone();
        let look = || -> Result<Look, PluginError> {
            Ok(match docker.inspect_container(ctx, &name)? {
                Some(live) => readiness(&live),
                None => Look::Failed(format!("the container `{name}` no longer exists")),
            })
        };
        if let Some(data) = &req.pending
            && let Some((wait, Some(status))) = self.wait(req)?.resume(Some(data))
        {
            return Ok(with_outputs(wait.poll(ctx, status, look)?, &req.options));
        }
        self.install(ctx, &docker, req)?;
        let live = docker.inspect_container(ctx, &name)?.ok_or_else(|| {
            PluginError::internal(format!(
                "the container `{name}` vanished right after it was started"
            ))
        })?;
        let status = observe(&live, true, true);
        let step = self.wait(req)?.poll(ctx, status, look)?;
        Ok(with_outputs(step, &req.options))
    }
}

impl Plugin for GitlabCeDocker {
    type Options = Options;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "gitlab-ce-docker",
            env!("CARGO_PKG_VERSION"),
            "Runs GitLab CE in a Docker container and waits until it is healthy",
        )
        .output("url", "GitLab's URL, http://HOSTNAME[:httpPort]")
        .output("container", "the container's name")
        .output("hostname", "the container's hostname")
        .output("sshPort", "the host port of GitLab's SSH")
        .output("httpPort", "the host port of GitLab's HTTP")
        .output("httpsPort", "the host port of GitLab's HTTPS")
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
        let docker = docker(req)?;
        let Some(live) = docker.inspect_container(ctx, &recorded_name(req))? else {
            return Ok(None);
        };
        Ok(Some(finished(observe(&live, true, true), &req.options)))
    }

    fn update(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        self.converge(ctx, req)
    }

    fn delete(&self, ctx: &Ctx<'_>, req: &Req<Options>) -> Result<Step, PluginError> {
        let docker = docker(req)?;
        let name = recorded_name(req);
        match docker.inspect_container(ctx, &name)? {
            Some(live) if owner(&live) == Some(req.instance.as_str()) => {
                ctx.info(format!("removing the container `{name}`"));
                docker.remove_container(ctx, &name)?;
            }
            Some(_) => ctx.warn(format!(
                "not removing the container `{name}`: {} did not create it",
                req.instance
            )),
            None => {}
        }
        if req.options.rm_data_after_delete {
            for (dir, _) in req.options.data_dirs() {
                match std::fs::remove_dir_all(&dir) {
                    Ok(()) => ctx.info(format!("removed GitLab's data directory {dir}")),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(PluginError::io(format!("removing {dir}"), &e)),
                }
            }
        }
        Ok(Done::default().into())
    }
}

dtm_plugin_sdk::export_plugin!(GitlabCeDocker, GitlabCeDocker);

#[cfg(test)]
mod tests {
    use super::*;
    use dtm_plugin_sdk::testing::{TestHost, call, request};
    use serde_json::json;

    fn validate(options: Value) -> Response {
        call(
            &GitlabCeDocker,
            &TestHost::new(),
            &request(Operation::Validate, "gitlab-ce-docker.default", options),
        )
    }

    #[test]
    fn devstreams_defaults_and_docker_run() {
        let o: Options = serde_json::from_value(json!({})).unwrap();
        assert_eq!(o.url(), "http://gitlab.example.com");
        assert_eq!(
            o.spec("gitlab-ce-docker.default").run_args().join(" "),
            "run --detach --hostname gitlab.example.com --publish 22:22 --publish 80:80 \
             --publish 443:443 --name gitlab --restart always \
             --volume /srv/gitlab/config:/etc/gitlab --volume /srv/gitlab/data:/var/opt/gitlab \
             --volume /srv/gitlab/logs:/var/log/gitlab --shm-size 268435456 \
             --label io.dtm.instance=gitlab-ce-docker.default gitlab/gitlab-ce:rc"
        );
        let o: Options = serde_json::from_value(json!({"httpPort": 0, "sshPort": 30022})).unwrap();
        assert_eq!(o.ports(), (30022, 80, 443));
    }

    #[test]
    fn validation_names_each_bad_option() {
        assert!(matches!(validate(json!({})), Response::Done { .. }));
        let Response::Invalid { problems } = validate(json!({
            "hostname": "not a host", "gitlabHome": "srv/gitlab", "imageTag": "-x",
            "httpPort": 22, "waitTimeout": "soon"
        })) else {
            panic!("expected invalid");
        };
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            ["/hostname", "/gitlabHome", "/imageTag", "", "/waitTimeout"]
        );
    }
}
