//! Built-in CI pipelines: lint, test, build and container image stages per language, written
//! as a GitHub Actions workflow, a GitLab CI file or a portable shell script.

use crate::ci::{Commands, ImageRepo, TestOption};
use crate::scm::Repo;

/// A language's toolchain and commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Language {
    /// Canonical name: go, python, rust, nodejs, java.
    pub name: &'static str,
    /// Toolchain version.
    pub version: String,
    /// Container image running the stages.
    pub image: String,
    /// Commands run before each stage (dependencies).
    pub setup: Vec<String>,
    /// Lint commands.
    pub lint: Vec<String>,
    /// Test commands.
    pub test: Vec<String>,
    /// Build commands.
    pub build: Vec<String>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// The language for a DevStream `language: {name, framework, version}`.
pub fn language(
    name: Option<&str>,
    framework: Option<&str>,
    version: Option<&str>,
) -> Result<Language, String> {
    let norm = |s: Option<&str>| {
        s.map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
    };
    let from_framework = norm(framework).and_then(|f| match f.as_str() {
        "gin" | "echo" | "fiber" => Some("go"),
        "django" | "flask" | "fastapi" => Some("python"),
        "axum" | "actix" | "actix-web" | "rocket" => Some("rust"),
        "express" | "nestjs" => Some("nodejs"),
        "springboot" | "spring-boot" | "spring" => Some("java"),
        _ => None,
    });
    let canonical = match norm(name).as_deref() {
        Some("go" | "golang") => "go",
        Some("python" | "python3") => "python",
        Some("rust") => "rust",
        Some("nodejs" | "node" | "javascript" | "typescript") => "nodejs",
        Some("java") => "java",
        Some(other) => {
            return Err(format!(
                "no built-in pipeline for language `{other}`; known: go, python, rust, nodejs, java (or give configLocation)"
            ));
        }
        None => from_framework.ok_or_else(|| {
            format!(
                "say which language: `name` (go, python, rust, nodejs, java){}",
                framework
                    .map(|f| format!("; framework `{f}` does not imply one"))
                    .unwrap_or_default()
            )
        })?,
    };
    let version = |default: &str| {
        version
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .unwrap_or(default)
            .to_string()
    };
    Ok(match canonical {
        "go" => {
            let v = version("1.22");
            Language {
                name: "go",
                image: format!("golang:{v}"),
                version: v,
                setup: strings(&["go mod download"]),
                lint: strings(&[
                    "gofmt -l . | tee /dev/stderr | (! read -r _)",
                    "go vet ./...",
                ]),
                test: strings(&["go test ./..."]),
                build: strings(&["go build ./..."]),
            }
        }
        "python" => {
            let v = version("3.12");
            Language {
                name: "python",
                image: format!("python:{v}"),
                version: v,
                setup: strings(&["python -m pip install -r requirements.txt"]),
                lint: strings(&["python -m pip install pyflakes", "python -m pyflakes ."]),
                test: strings(&["python -m unittest discover -v"]),
                build: strings(&["python -m compileall -q ."]),
            }
        }
        "rust" => {
            let v = version("1.88");
            Language {
                name: "rust",
                image: format!("rust:{v}"),
                version: v,
                setup: strings(&["rustup component add clippy rustfmt"]),
                lint: strings(&[
                    "cargo fmt --all --check",
                    "cargo clippy --all-targets -- -D warnings",
                ]),
                test: strings(&["cargo test"]),
                build: strings(&["cargo build --release"]),
            }
        }
        "nodejs" => {
            let v = version("20");
            Language {
                name: "nodejs",
                image: format!("node:{v}"),
                version: v,
                setup: strings(&["npm ci"]),
                lint: strings(&["npm run lint --if-present"]),
                test: strings(&["npm test"]),
                build: strings(&["npm run build --if-present"]),
            }
        }
        _ => {
            let v = version("21");
            Language {
                name: "java",
                image: format!("maven:3.9-eclipse-temurin-{v}"),
                version: v,
                setup: Vec::new(),
                lint: strings(&["mvn -B -q validate"]),
                test: strings(&["mvn -B test"]),
                build: strings(&["mvn -B package -DskipTests"]),
            }
        }
    })
}

/// The image name `REGISTRY/USER/APP` (registry and user when given).
pub fn image_name(image_repo: Option<&ImageRepo>, app: &str) -> String {
    let registry = image_repo
        .and_then(|r| r.url.as_deref())
        .map(|u| {
            u.trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .trim_end_matches("/v1")
                .to_string()
        })
        .filter(|u| !u.is_empty() && u != "index.docker.io");
    let user = image_repo
        .and_then(|r| r.user.as_deref())
        .filter(|u| !u.is_empty());
    let mut parts: Vec<&str> = Vec::new();
    if let Some(registry) = &registry {
        parts.push(registry);
    }
    if let Some(user) = user {
        parts.push(user);
    }
    parts.push(app);
    parts.join("/")
}

/// Everything a built-in pipeline needs.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The language.
    pub language: Language,
    /// Branch that builds and pushes images.
    pub branch: String,
    /// `REGISTRY/USER/APP`.
    pub image: String,
    /// Registry host for `docker login` (empty: Docker Hub).
    pub registry: String,
    /// Whether the test stage runs.
    pub test_enabled: bool,
    /// Image of the test stage.
    pub test_image: String,
    /// Test commands.
    pub test: Vec<String>,
    /// `name.instanceID` of the tool, for the header comment.
    pub instance: String,
}

impl Spec {
    /// The spec for `language` in `repo`.
    pub fn new(
        language: Language,
        repo: &Repo,
        image_repo: Option<&ImageRepo>,
        test: Option<&TestOption>,
        instance: &str,
    ) -> Self {
        let image = image_name(image_repo, &repo.name.to_ascii_lowercase());
        let registry = image
            .split('/')
            .next()
            .filter(|first| first.contains('.') || first.contains(':'))
            .filter(|_| image.matches('/').count() >= 2)
            .unwrap_or_default()
            .to_string();
        let test_commands = match test.and_then(|t| t.command.clone()) {
            Some(Commands::One(c)) => vec![c],
            Some(Commands::Many(c)) => c,
            None => language.test.clone(),
        };
        Spec {
            test_enabled: test.and_then(|t| t.enable).unwrap_or(true),
            test_image: test
                .and_then(|t| t.container_name.clone())
                .unwrap_or_else(|| language.image.clone()),
            test: test_commands,
            branch: repo.branch.clone(),
            image,
            registry,
            language,
            instance: instance.to_string(),
        }
    }
}

/// A YAML double-quoted scalar (JSON strings are valid YAML).
fn q(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

fn header(spec: &Spec, comment: &str) -> String {
    format!(
        "{comment} Managed by dtm ({}): a change made here shows as drift and the next `dtm apply`\n\
         {comment} puts dtm's version back. Change the tool's options instead.\n",
        spec.instance
    )
}

/// A GitHub Actions workflow: lint, test and build jobs, then the container image on pushes.
pub fn github_actions(spec: &Spec) -> String {
    let lang = &spec.language;
    let mut out = header(spec, "#");
    out.push_str(&format!(
        "name: ci\n\non:\n  push:\n    branches: [{b}]\n  pull_request:\n    branches: [{b}]\n\njobs:\n",
        b = q(&spec.branch)
    ));
    let mut job = |name: &str, image: &str, commands: &[String], needs: &[&str]| {
        out.push_str(&format!("  {name}:\n    runs-on: ubuntu-latest\n"));
        if !needs.is_empty() {
            out.push_str(&format!("    needs: [{}]\n", needs.join(", ")));
        }
        out.push_str(&format!(
            "    container: {}\n    steps:\n      - uses: actions/checkout@v4\n",
            q(image)
        ));
        for command in lang.setup.iter().chain(commands) {
            out.push_str(&format!("      - run: {}\n", q(command)));
        }
    };
    job("lint", &lang.image, &lang.lint, &[]);
    let mut build_needs = vec!["lint"];
    if spec.test_enabled {
        job("test", &spec.test_image, &spec.test, &[]);
        build_needs.push("test");
    }
    job("build", &lang.image, &lang.build, &build_needs);
    out.push_str(&format!(
        "  image:\n    runs-on: ubuntu-latest\n    needs: [build]\n    if: github.event_name == 'push'\n    env:\n      IMAGE: {image}\n      REGISTRY: {registry}\n      IMAGE_REPO_USER: ${{{{ secrets.IMAGE_REPO_USER }}}}\n      IMAGE_REPO_SECRET: ${{{{ secrets.IMAGE_REPO_SECRET }}}}\n    steps:\n      - uses: actions/checkout@v4\n      - name: Build the container image\n        run: docker build -t \"$IMAGE:${{{{ github.sha }}}}\" -t \"$IMAGE:latest\" .\n      - name: Push it (when the IMAGE_REPO_USER and IMAGE_REPO_SECRET secrets are set)\n        if: env.IMAGE_REPO_SECRET != ''\n        run: |\n          echo \"$IMAGE_REPO_SECRET\" | docker login -u \"$IMAGE_REPO_USER\" --password-stdin $REGISTRY\n          docker push \"$IMAGE:${{{{ github.sha }}}}\"\n          docker push \"$IMAGE:latest\"\n",
        image = q(&spec.image),
        registry = q(&spec.registry),
    ));
    out
}

/// A `.gitlab-ci.yml`: lint, test, build and image stages.
pub fn gitlab_ci(spec: &Spec) -> String {
    let lang = &spec.language;
    let mut out = header(spec, "#");
    let mut stages = vec!["lint"];
    if spec.test_enabled {
        stages.push("test");
    }
    stages.extend(["build", "image"]);
    out.push_str(&format!(
        "stages: [{}]\n\ndefault:\n  image: {}\n",
        stages.join(", "),
        q(&lang.image)
    ));
    if !lang.setup.is_empty() {
        out.push_str("  before_script:\n");
        for command in &lang.setup {
            out.push_str(&format!("    - {}\n", q(command)));
        }
    }
    let mut job = |name: &str, image: Option<&str>, commands: &[String]| {
        out.push_str(&format!("\n{name}:\n  stage: {name}\n"));
        if let Some(image) = image {
            out.push_str(&format!("  image: {}\n", q(image)));
        }
        out.push_str("  script:\n");
        for command in commands {
            out.push_str(&format!("    - {}\n", q(command)));
        }
    };
    job("lint", None, &lang.lint);
    if spec.test_enabled {
        let image = (spec.test_image != lang.image).then_some(spec.test_image.as_str());
        job("test", image, &spec.test);
    }
    job("build", None, &lang.build);
    out.push_str(&format!(
        "\nimage:\n  stage: image\n  image: docker:27\n  services: [\"docker:27-dind\"]\n  variables:\n    IMAGE: {image}\n    REGISTRY: {registry}\n  before_script: []\n  rules:\n    - if: $CI_COMMIT_BRANCH == {branch}\n  script:\n    - docker build -t \"$IMAGE:$CI_COMMIT_SHORT_SHA\" -t \"$IMAGE:latest\" .\n    - |\n      if [ -n \"$IMAGE_REPO_SECRET\" ]; then\n        echo \"$IMAGE_REPO_SECRET\" | docker login -u \"$IMAGE_REPO_USER\" --password-stdin $REGISTRY\n        docker push \"$IMAGE:$CI_COMMIT_SHORT_SHA\"\n        docker push \"$IMAGE:latest\"\n      fi\n",
        image = q(&spec.image),
        registry = q(&spec.registry),
        branch = q(&spec.branch),
    ));
    out
}

/// Single-quotes `text` for a POSIX shell.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A portable shell script running the stages (`pipeline.sh [lint|test|build|image]...`), for
/// any CI system that can run a script in the language's image.
pub fn shell(spec: &Spec) -> String {
    let lang = &spec.language;
    let mut out = String::from("#!/bin/sh\n");
    out.push_str(&header(spec, "#"));
    out.push_str(&format!(
        "#\n# Usage: $0 [setup|lint|test|build|image]...   (default: all, in that order)\n# Runs in {}; `image` needs docker.\nset -eu\n\nIMAGE=${{IMAGE:-{}}}\n\n",
        lang.image,
        sh_quote(&spec.image)
    ));
    let mut stage = |name: &str, commands: &[String]| {
        out.push_str(&format!("stage_{name}() {{\n    echo \"--- {name}\"\n"));
        if commands.is_empty() {
            out.push_str("    :\n");
        }
        for command in commands {
            out.push_str(&format!("    {command}\n"));
        }
        out.push_str("}\n\n");
    };
    stage("setup", &lang.setup);
    stage("lint", &lang.lint);
    stage("test", if spec.test_enabled { &spec.test } else { &[] });
    stage("build", &lang.build);
    stage(
        "image",
        &[
            "docker build -t \"$IMAGE:latest\" .".to_string(),
            "if [ -n \"${IMAGE_REPO_SECRET:-}\" ]; then echo \"$IMAGE_REPO_SECRET\" | docker login -u \"$IMAGE_REPO_USER\" --password-stdin && docker push \"$IMAGE:latest\"; fi".to_string(),
        ],
    );
    out.push_str(
        "[ $# -gt 0 ] || set -- setup lint test build image\nfor s in \"$@\"; do\n    case $s in\n        setup|lint|test|build|image) \"stage_$s\" ;;\n        *) echo \"unknown stage: $s\" >&2; exit 2 ;;\n    esac\ndone\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frameworks_imply_languages_and_aliases_resolve() {
        assert_eq!(language(None, Some("gin"), None).map(|l| l.name), Ok("go"));
        assert_eq!(
            language(Some("golang"), None, None).map(|l| l.name),
            Ok("go")
        );
        assert_eq!(
            language(Some("python"), Some("django"), Some("3.11")).map(|l| l.image),
            Ok("python:3.11".to_string())
        );
        assert!(language(Some("cobol"), None, None).is_err());
        assert!(language(None, None, None).is_err());
    }

    fn spec(lang: &str) -> Spec {
        let repo = crate::scm::RepoInfo {
            url: Some("/srv/git/my-app.git".into()),
            branch: Some("feat#1".into()),
            ..Default::default()
        }
        .resolve(|p: &str| std::path::PathBuf::from(p))
        .unwrap_or_else(|e| panic!("{e:?}"));
        let test = TestOption {
            command: Some(Commands::One("echo 'a: b' # not a comment".into())),
            ..Default::default()
        };
        let language = language(Some(lang), None, None).unwrap_or_else(|e| panic!("{e}"));
        Spec::new(language, &repo, None, Some(&test), "ci.test")
    }

    #[test]
    fn builtin_pipelines_are_valid_yaml_and_sh_for_every_language() {
        use yaml_rust2::YamlLoader;
        for lang in ["go", "python", "rust", "nodejs", "java"] {
            let spec = spec(lang);
            let gh = YamlLoader::load_from_str(&github_actions(&spec))
                .unwrap_or_else(|e| panic!("{lang}: {e}"));
            let jobs = &gh[0]["jobs"];
            for job in ["lint", "test", "build", "image"] {
                assert!(!jobs[job].is_badvalue(), "{lang}: no job {job}");
            }
            let steps = jobs["test"]["steps"].as_vec().cloned().unwrap_or_default();
            assert!(
                steps
                    .iter()
                    .any(|s| s["run"].as_str() == Some("echo 'a: b' # not a comment")),
                "{lang}: {steps:?}"
            );
            assert_eq!(gh[0]["on"]["push"]["branches"][0].as_str(), Some("feat#1"));
            let gl = YamlLoader::load_from_str(&gitlab_ci(&spec))
                .unwrap_or_else(|e| panic!("{lang}: {e}"));
            for job in ["lint", "test", "build", "image"] {
                assert!(!gl[0][job]["script"].is_badvalue(), "{lang}: no job {job}");
            }
            let script = shell(&spec);
            let status = std::process::Command::new("sh")
                .args(["-n", "-c", &script])
                .status()
                .unwrap_or_else(|e| panic!("sh: {e}"));
            assert!(status.success(), "{lang}: shell syntax\n{script}");
        }
    }

    #[test]
    fn image_names() {
        assert_eq!(image_name(None, "svc"), "svc");
        let hub = ImageRepo {
            url: Some("https://index.docker.io/v1/".into()),
            user: Some("me".into()),
            password: None,
        };
        assert_eq!(image_name(Some(&hub), "svc"), "me/svc");
        let ghcr = ImageRepo {
            url: Some("ghcr.io".into()),
            user: Some("me".into()),
            password: None,
        };
        assert_eq!(image_name(Some(&ghcr), "svc"), "ghcr.io/me/svc");
    }
}
