//! dtm's built-in Jenkinsfile and the Jenkinsfile part of the tool: committed to the
//! repository's branch and kept there by `dtm_git_support::ci`, like the other CI plugins'
//! pipeline files.

use dtm_git_support::ci::Flavor;
use dtm_git_support::pipelines::Spec;
use serde_json::Value;

use crate::credentials::IMAGE_REPO;
use crate::options::Options;

/// The image stage: Kaniko builds the image on the branch and pushes it with the registry
/// credential (`@CREDENTIAL@`) when Jenkins has one, else only builds it.
const IMAGE_STAGE: &str = r#"    stage('image') {
      when { branch @BRANCH@ }
      steps {
        container('kaniko') {
          script {
            def push = true
            try {
              withCredentials([usernamePassword(credentialsId: '@CREDENTIAL@', usernameVariable: 'IMAGE_REPO_USER', passwordVariable: 'IMAGE_REPO_SECRET')]) {
                sh '''
                  mkdir -p /kaniko/.docker
                  AUTH=$(printf '%s:%s' "$IMAGE_REPO_USER" "$IMAGE_REPO_SECRET" | base64 | tr -d '\\n')
                  echo "{\\"auths\\":{\\"${IMAGE%%/*}\\":{\\"auth\\":\\"$AUTH\\"}}}" > /kaniko/.docker/config.json
                '''
              }
            } catch (err) {
              echo "no @CREDENTIAL@ credential in Jenkins: the image is built, not pushed"
              push = false
            }
            sh "/kaniko/executor --context . --destination ${IMAGE}:${env.GIT_COMMIT ?: 'latest'} --destination ${IMAGE}:latest ${push ? '' : '--no-push'}"
          }
        }
      }
    }
  }
}
"#;

/// A Groovy single-quoted string.
fn g(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A YAML double-quoted scalar.
fn y(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

fn steps(container: &str, commands: &[String]) -> String {
    let mut out = format!("        container({}) {{\n", g(container));
    for c in commands {
        out.push_str(&format!("          sh {}\n", g(c)));
    }
    out.push_str("        }\n");
    out
}

/// The built-in declarative Jenkinsfile: lint, test and build in the language's image on a
/// Kubernetes agent (as DevStream's Jenkinsfiles ran on a Jenkins in Kubernetes), then the
/// container image with Kaniko on the branch, pushed with the `image-repo-auth` credential when
/// Jenkins has one.
pub fn builtin(spec: &Spec) -> String {
    let lang = &spec.language;
    let mut containers = vec![("build", lang.image.clone())];
    if spec.test_enabled && spec.test_image != lang.image {
        containers.push(("test", spec.test_image.clone()));
    }
    containers.push(("kaniko", "gcr.io/kaniko-project/executor:debug".into()));
    let mut pod = String::from("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n");
    for (name, image) in &containers {
        pod.push_str(&format!(
            "  - name: {name}\n    image: {}\n    command: [\"sleep\"]\n    args: [\"infinity\"]\n",
            y(image)
        ));
    }
    let mut out = format!(
        "// Managed by dtm ({}): a change made here shows as drift and the next `dtm apply`\n// puts dtm's version back. Change the tool's options instead.\npipeline {{\n  agent {{\n    kubernetes {{\n      yaml '''\n{pod}'''\n    }}\n  }}\n  environment {{\n    IMAGE = {}\n  }}\n  stages {{\n",
        spec.instance,
        g(&spec.image)
    );
    let mut stage = |name: &str, body: String| {
        out.push_str(&format!(
            "    stage({}) {{\n      steps {{\n{body}      }}\n    }}\n",
            g(name)
        ));
    };
    let setup_lint: Vec<String> = lang.setup.iter().chain(&lang.lint).cloned().collect();
    stage("lint", steps("build", &setup_lint));
    if spec.test_enabled {
        let container = if containers.iter().any(|(n, _)| *n == "test") {
            "test"
        } else {
            "build"
        };
        let commands: Vec<String> = lang.setup.iter().chain(&spec.test).cloned().collect();
        stage("test", steps(container, &commands));
    }
    stage("build", steps("build", &lang.build));
    out.push_str(
        &IMAGE_STAGE
            .replace("@BRANCH@", &g(&spec.branch))
            .replace("@CREDENTIAL@", IMAGE_REPO),
    );
    out
}

/// The Jenkinsfile flavor of the shared CI plugin code.
#[derive(Debug)]
pub struct Jenkinsfile;

impl Flavor for Jenkinsfile {
    const NAME: &'static str = "jenkins-pipeline";
    const DESCRIPTION: &'static str = "A Jenkins pipeline job (config.xml through Jenkins' REST API), its credentials, the repository's webhook and its Jenkinsfile";
    const DEFAULT_PATH: &'static str = "Jenkinsfile";
    type Options = Options;

    fn builtin(spec: &Spec) -> String {
        builtin(spec)
    }

    fn example() -> Value {
        crate::options::example()
    }
}
