//! Command-line definitions (clap). Only shapes here; meaning is in `settings` and `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use dtm_engine::registry::VersionReq;

/// dtm: bring your DevOps toolchain to the state one YAML file describes.
#[derive(Debug, Parser)]
#[command(name = "dtm", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Output {
    /// For people.
    #[default]
    Text,
    /// One machine-readable JSON document on stdout.
    Json,
}

/// Flags shared by every command that reads a config.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConfigArgs {
    /// Config file, or a directory whose *.yaml/*.yml files are merged.
    #[arg(
        short = 'f',
        long = "config-file",
        visible_alias = "file",
        value_name = "FILE|DIR",
        default_value = "config.yaml",
        env = "DTM_CONFIG"
    )]
    pub file: PathBuf,
    /// Directory holding plugin libraries (searched before the config's pluginDir and the dtm home).
    #[arg(
        long = "plugin-dir",
        short = 'd',
        value_name = "DIR",
        env = "DTM_PLUGIN_DIR"
    )]
    pub plugin_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Maximum number of plugin calls running at once.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub parallelism: u16,
    /// How long to wait for a state lock held by someone else (e.g. 30s); default: fail at once.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration)]
    pub lock_timeout: std::time::Duration,
    /// Step timeout for tools that set no `timeout` of their own.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// Option keys a plugin does not know are errors, not warnings (as `config.strict: true`).
    #[arg(long)]
    pub strict: bool,
}

/// Confirmation flag for commands that change things.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConfirmArgs {
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(short = 'y', long = "yes", alias = "auto-approve")]
    pub yes: bool,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Resolve, download and verify the plugins a config needs, and write its dtm.lock.
    Init {
        #[command(flatten)]
        config: ConfigArgs,
        /// Move locked plugins to the newest versions the config allows.
        #[arg(long)]
        upgrade: bool,
        /// Allow a plain http:// registry on a remote host (prints a warning).
        #[arg(long)]
        insecure_http: bool,
    },
    /// Plugins: installed and locked builds, registries, signing keys, publishing, mirrors.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Show what apply would do, without changing anything.
    Plan {
        #[command(flatten)]
        config: ConfigArgs,
        /// Exit 0 when nothing would change, 2 when something would, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Create, update and delete tools so reality matches the config.
    Apply {
        #[command(flatten)]
        config: ConfigArgs,
        #[command(flatten)]
        confirm: ConfirmArgs,
    },
    /// Delete the tools listed in the config (dependents first).
    Delete {
        #[command(flatten)]
        config: ConfigArgs,
        #[command(flatten)]
        confirm: ConfirmArgs,
    },
    /// Delete everything recorded in state (dependents first).
    Destroy {
        #[command(flatten)]
        config: ConfigArgs,
        #[command(flatten)]
        confirm: ConfirmArgs,
    },
    /// Check that the config is valid and reality matches it: exit 0 in sync, 2 changes pending, 1 error.
    Verify {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Show the resolved config or the recorded status of tools.
    Show {
        #[command(subcommand)]
        what: ShowCommand,
    },
    /// List things.
    List {
        #[command(subcommand)]
        what: ListCommand,
    },
    /// Print the dependency graph in Graphviz DOT.
    Graph {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Inspect and repair state.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Print dtm's version and the plugin ABI it speaks.
    Version {
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Print a shell completion script.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `dtm show ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ShowCommand {
    /// The config after variables, env and apps are resolved (secrets masked), or a plugin's sample config.
    ///
    /// With -p, the plugin comes from the first of: --plugin-dir, the directory of the dtm
    /// executable, the plugin cache, the registry (verified and cached as `dtm init` does).
    // `--version` is the plugin's version requirement here, not dtm's version.
    #[command(disable_version_flag = true)]
    Config {
        #[command(flatten)]
        config: ConfigArgs,
        /// Print a commented sample config for this plugin instead (with -o json: its manifest).
        #[arg(long, short = 'p', value_name = "PLUGIN")]
        plugin: Option<String>,
        /// With -p: print the plugin's options JSON Schema instead of the sample.
        #[arg(long, requires = "plugin")]
        schema: bool,
        /// With -p: a semver requirement the plugin's version must meet (e.g. 0.2, >=0.1, <0.3).
        #[arg(long = "version", value_name = "REQ", requires = "plugin", value_parser = parse_requirement)]
        version: Option<VersionReq>,
        #[command(flatten)]
        registry: RegistryFlags,
    },
    /// Recorded and live status of each tool.
    Status {
        #[command(flatten)]
        config: ConfigArgs,
        /// Only this tool (`name.instanceID`).
        #[arg(long, short = 'i', value_name = "NAME.INSTANCE")]
        id: Option<String>,
    },
}

/// `dtm list ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ListCommand {
    /// Plugins in the plugin directories, the plugin cache and the registry.
    Plugins {
        /// Directory holding plugin libraries.
        #[arg(
            long = "plugin-dir",
            short = 'd',
            value_name = "DIR",
            env = "DTM_PLUGIN_DIR"
        )]
        plugin_dir: Option<PathBuf>,
        #[command(flatten)]
        registry: RegistryFlags,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

/// `dtm state ...`
#[derive(Debug, Subcommand)]
pub(crate) enum StateCommand {
    /// List the tools recorded in state.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Show one recorded tool.
    Show {
        #[command(flatten)]
        config: ConfigArgs,
        /// `name.instanceID`.
        id: String,
    },
    /// Print the state document as JSON (e.g. to keep a copy: `dtm state pull > backup.json`).
    Pull {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Replace the stored state with a state file, under the lock.
    ///
    /// Refuses a file of another lineage (a different state) or with an older serial than the
    /// stored state, unless --force.
    Push {
        #[command(flatten)]
        config: ConfigArgs,
        /// The state file (as written by `dtm state pull`).
        #[arg(value_name = "FILE")]
        state_file: PathBuf,
        /// Replace the state even if the file is another lineage or older.
        #[arg(long)]
        force: bool,
    },
    /// Forget tools without deleting them, under the lock.
    Rm {
        #[command(flatten)]
        config: ConfigArgs,
        /// `name.instanceID` of each tool to forget.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
    /// Rename a recorded tool (`name.OLD` to `name.NEW`), under the lock.
    Mv {
        #[command(flatten)]
        config: ConfigArgs,
        /// The recorded `name.instanceID`.
        old: String,
        /// The new `name.instanceID` (same plugin name).
        new: String,
    },
    /// Release a lock left by a run that died.
    Unlock {
        #[command(flatten)]
        config: ConfigArgs,
        /// The lock id printed in the "locked by" message.
        lock_id: String,
    },
    /// Copy the state to the backend of another config, under both locks, and read it back.
    Migrate {
        #[command(flatten)]
        config: ConfigArgs,
        /// The config whose `config.state` names the new backend.
        #[arg(long, value_name = "CONFIG")]
        to: PathBuf,
        /// Replace a state the target already holds.
        #[arg(long)]
        force: bool,
    },
    /// Convert a DevStream state file into this config's state, under the lock.
    ImportDevstream {
        #[command(flatten)]
        config: ConfigArgs,
        /// DevStream's state file (YAML keyed `name_instanceID`).
        #[arg(value_name = "FILE")]
        state_file: PathBuf,
        /// Import even if the state already records tools (imported ones replace same ids).
        #[arg(long)]
        force: bool,
    },
}

/// `dtm plugin ...`
#[derive(Debug, Subcommand)]
pub(crate) enum PluginCommand {
    /// Builds in the plugin cache, and what the config's dtm.lock pins.
    List {
        /// Config file or directory whose dtm.lock to show (default: ./dtm.lock if present).
        #[arg(
            short = 'f',
            long = "config-file",
            visible_alias = "file",
            value_name = "FILE|DIR"
        )]
        file: Option<PathBuf>,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Plugins a registry publishes, optionally only those whose name or description has TERM.
    Search {
        /// Text to look for.
        term: Option<String>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// A plugin's published versions, ABI and builds.
    Info {
        /// Plugin name.
        name: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Create a minisign signing key pair (`NAME.key`, `NAME.pub`).
    Keygen {
        /// Path of the key pair without extension (default: <dtm home>/keys/signing).
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
        /// Also trust the new public key (copy it to <dtm home>/trusted-keys/).
        #[arg(long)]
        trust: bool,
    },
    /// Publish built plugin libraries into a directory registry, signed with KEY.
    Publish {
        /// The registry directory (created if missing).
        #[arg(long, value_name = "DIR")]
        registry: PathBuf,
        /// The minisign secret key (from `dtm plugin keygen`).
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// Platform the libraries are built for (default: this one, e.g. linux-x86_64).
        #[arg(long, value_name = "OS-ARCH")]
        platform: Option<String>,
        /// Replace a build already published for this version and platform.
        #[arg(long)]
        force: bool,
        /// Plugin libraries (.so/.dylib/.dll).
        #[arg(required = true, value_name = "LIB")]
        libraries: Vec<PathBuf>,
    },
    /// Copy exactly the plugin builds a config needs into a new file:// registry (air-gapped use).
    Mirror {
        /// The directory to create or update.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// Which registry to use, for commands that read no config.
#[derive(Debug, Clone, Args)]
pub(crate) struct RegistryFlags {
    /// Registry URL or directory (default: DTM_REGISTRY, or `url` under [registry] in <dtm home>/config.toml).
    #[arg(long, value_name = "URL")]
    pub registry: Option<String>,
    /// Allow a plain http:// registry on a remote host (prints a warning).
    #[arg(long)]
    pub insecure_http: bool,
}

/// Which registry to ask, and how to print the answer.
#[derive(Debug, Clone, Args)]
pub(crate) struct RegistryArgs {
    #[command(flatten)]
    pub source: RegistryFlags,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

fn parse_requirement(text: &str) -> Result<VersionReq, String> {
    VersionReq::parse(text).map_err(|e| {
        format!("`{text}` is not a semver requirement (examples: 0.2, >=0.1, <0.3): {e}")
    })
}
