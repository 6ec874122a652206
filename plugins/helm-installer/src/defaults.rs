//! DevStream's default charts: an instance whose `instanceID` starts with one of these names
//! gets the chart's repository, name, release, namespace, wait and timeout when the config
//! leaves them out (DevStream v0.12.1, `internal/pkg/plugin/helminstaller/defaults/`). The
//! longest matching name wins, as in DevStream (`argocd-config` over `argocd`).

/// What a default chart fills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DefaultChart {
    /// The `instanceID` prefix that selects it.
    pub name: &'static str,
    /// `repo.name`.
    pub repo_name: &'static str,
    /// `repo.url`.
    pub repo_url: &'static str,
    /// `chart.chartName`, as `repo/chart`.
    pub chart_name: &'static str,
    /// `chart.releaseName`.
    pub release_name: &'static str,
    /// `chart.namespace`.
    pub namespace: &'static str,
    /// `chart.timeout`.
    pub timeout: &'static str,
    /// Which extra outputs DevStream published for it.
    pub extra: Extra,
}

/// Outputs DevStream's status getters added for some charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    /// None.
    None,
    /// `jenkins_url`: `http://SERVICE.NAMESPACE:8080`.
    JenkinsUrl,
    /// `devlake_url`: `http://CLUSTER-IP:8080` of the `devlake-lake` Service.
    DevLakeUrl,
}

const fn chart(
    name: &'static str,
    repo_name: &'static str,
    repo_url: &'static str,
    chart_name: &'static str,
    release_and_namespace: (&'static str, &'static str),
    extra: Extra,
) -> DefaultChart {
    DefaultChart {
        name,
        repo_name,
        repo_url,
        chart_name,
        release_name: release_and_namespace.0,
        namespace: release_and_namespace.1,
        timeout: "10m",
        extra,
    }
}

/// Every default chart DevStream v0.12.1 knew. All wait (`wait: true`) and upgrade CRDs
/// (`upgradeCRDs: true`) by default, with a 10-minute timeout.
pub(crate) const DEFAULT_CHARTS: &[DefaultChart] = &[
    chart(
        "argocd",
        "argo",
        "https://argoproj.github.io/argo-helm",
        "argo/argo-cd",
        ("argocd", "argocd"),
        Extra::None,
    ),
    chart(
        "artifactory",
        "jfrog",
        "https://charts.jfrog.io",
        "jfrog/artifactory",
        ("artifactory", "artifactory"),
        Extra::None,
    ),
    chart(
        "devlake",
        "devlake",
        "https://apache.github.io/incubator-devlake-helm-chart",
        "devlake/devlake",
        ("devlake", "devlake"),
        Extra::DevLakeUrl,
    ),
    chart(
        "harbor",
        "harbor",
        "https://helm.goharbor.io",
        "harbor/harbor",
        ("harbor", "harbor"),
        Extra::None,
    ),
    chart(
        "jenkins",
        "jenkins",
        "https://charts.jenkins.io",
        "jenkins/jenkins",
        ("jenkins", "jenkins"),
        Extra::JenkinsUrl,
    ),
    chart(
        "kube-prometheus",
        "prometheus-community",
        "https://prometheus-community.github.io/helm-charts",
        "prometheus-community/kube-prometheus-stack",
        ("prometheus", "prometheus"),
        Extra::None,
    ),
    chart(
        "openldap",
        "helm-openldap",
        "https://jp-gouin.github.io/helm-openldap/",
        "helm-openldap/openldap-stack-ha",
        ("openldap", "openldap"),
        Extra::None,
    ),
    chart(
        "sonarqube",
        "sonarqube",
        "https://SonarSource.github.io/helm-chart-sonarqube",
        "sonarqube/sonarqube",
        ("sonarqube", "sonarqube"),
        Extra::None,
    ),
    chart(
        "tekton",
        "tekton",
        "https://steinliber.github.io/tekton-helm-chart/",
        "tekton/tekton-pipeline",
        ("tekton", "tekton"),
        Extra::None,
    ),
    chart(
        "vault",
        "hashicorp",
        "https://helm.releases.hashicorp.com",
        "hashicorp/vault",
        ("vault", "vault"),
        Extra::None,
    ),
];

/// The default chart for `instance_id`: the longest name it starts with.
pub(crate) fn for_instance(instance_id: &str) -> Option<&'static DefaultChart> {
    DEFAULT_CHARTS
        .iter()
        .filter(|d| instance_id.starts_with(d.name))
        .max_by_key(|d| d.name.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_unknown_ids_get_nothing() {
        assert_eq!(for_instance("argocd").map(|d| d.name), Some("argocd"));
        assert_eq!(for_instance("argocd-prod").map(|d| d.name), Some("argocd"));
        assert_eq!(
            for_instance("kube-prometheus-dev").map(|d| d.release_name),
            Some("prometheus")
        );
        assert_eq!(for_instance("my-argocd"), None);
        assert_eq!(for_instance("nginx"), None);
    }
}
