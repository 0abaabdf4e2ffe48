//! Command-line grammar (clap derive): global flags, the top-level commands and
//! Docker's `container …` / `image …` management groups that alias them.

use clap::{Args, Parser, Subcommand};

/// A boolean flag that also accepts Docker's `--flag=false` / `--flag=true`.
macro_rules! bool_flag {
    () => {
        clap::ArgAction::Set
    };
}

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    about = "A self-sufficient runtime for containers",
    disable_version_flag = true,
    subcommand_required = false,
    arg_required_else_help = false
)]
pub struct Cli {
    #[command(flatten)]
    pub g: Globals,
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

/// The global flags, shared by [`Cli`] and [`RunOnly`].
#[derive(Debug, Args)]
pub struct Globals {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host", env = "BERTH_HOST", value_name = "HOST")]
    pub host: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// Use TLS; implied by --tlsverify
    #[arg(long = "tls", env = "DOCKER_TLS", value_parser = clap::builder::FalseyValueParser::new())]
    pub tls: bool,
    /// Use TLS and verify the remote
    #[arg(long = "tlsverify", env = "DOCKER_TLS_VERIFY", value_parser = clap::builder::FalseyValueParser::new())]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA
    #[arg(long = "tlscacert", value_name = "FILE")]
    pub tlscacert: Option<std::path::PathBuf>,
    /// Path to TLS certificate file
    #[arg(long = "tlscert", value_name = "FILE")]
    pub tlscert: Option<std::path::PathBuf>,
    /// Path to TLS key file
    #[arg(long = "tlskey", value_name = "FILE")]
    pub tlskey: Option<std::path::PathBuf>,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    pub version: bool,
}

/// The grammar of `berth run` and `berth build` alone, with the same global flags as
/// [`Cli`]. Building clap's whole command tree costs about 1.3 ms of CPU at every
/// start, and these are the commands whose latency users feel (a cached build takes
/// under 20 ms); `main` uses this parser when the first command word is `run` or
/// `build` and turns the result into a [`Cli`]. Help and errors read the same, since
/// the subcommands are the same [`RunArgs`] and `BuildArgs`.
#[derive(Debug, Parser)]
#[command(
    name = "berth",
    about = "A self-sufficient runtime for containers",
    disable_version_flag = true
)]
pub struct RunOnly {
    #[command(flatten)]
    pub g: Globals,
    #[command(subcommand)]
    pub cmd: RunOnlyCmd,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process; boxing buys nothing
pub enum RunOnlyCmd {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Build an image from a Dockerfile
    Build(crate::build::BuildArgs),
}

impl From<RunOnly> for Cli {
    fn from(r: RunOnly) -> Cli {
        let cmd = match r.cmd {
            RunOnlyCmd::Run(args) => Cmd::Run(args),
            RunOnlyCmd::Build(args) => Cmd::Build(args),
        };
        Cli {
            g: r.g,
            cmd: Some(cmd),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// List containers
    Ps(PsArgs),
    /// Return low-level information on containers and images
    Inspect(InspectArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Pause all processes within one or more containers
    Pause(IdsArgs),
    /// Unpause all processes within one or more containers
    Unpause(IdsArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(IdsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Build an image from a Dockerfile
    Build(crate::build::BuildArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// List images
    Images(ImagesArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Show the Berth version information
    Version(VersionArgs),
    /// Display system-wide information
    Info(InfoArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Get real time events from the server
    Events(EventsArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Authenticate to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCmd),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCmd),
    /// Manage Berth
    #[command(subcommand)]
    System(SystemCmd),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCmd),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCmd),
    /// Define and run multi-container applications
    Compose(crate::compose::ComposeArgs),
}

#[derive(Debug, Subcommand)]
pub enum ContainerCmd {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// List containers
    #[command(alias = "ps", alias = "list")]
    Ls(PsArgs),
    /// Display detailed information on one or more containers
    Inspect(ContainerInspectArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Pause all processes within one or more containers
    Pause(IdsArgs),
    /// Unpause all processes within one or more containers
    Unpause(IdsArgs),
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(IdsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
}

#[derive(Debug, Subcommand)]
pub enum VolumeCmd {
    /// Create a volume
    Create(VolumeCreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(VolumeLsArgs),
    /// Display detailed information on one or more volumes
    Inspect(NamesFormatArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(NamesForceArgs),
    /// Remove unused local volumes
    Prune(VolumePruneArgs),
}

#[derive(Debug, Subcommand)]
pub enum NetworkCmd {
    /// Create a network
    Create(NetworkCreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(NetworkLsArgs),
    /// Display detailed information on one or more networks
    Inspect(NamesFormatArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(NamesForceArgs),
    /// Connect a container to a network
    Connect(NetworkConnectArgs),
    /// Disconnect a container from a network
    Disconnect(NetworkDisconnectArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
}

#[derive(Debug, Subcommand)]
pub enum SystemCmd {
    /// Show disk usage
    Df(DfArgs),
    /// Get real time events from the server
    Events(EventsArgs),
    /// Display system-wide information
    Info(InfoArgs),
    /// Remove unused data
    Prune(SystemPruneArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImageCmd {
    /// Build an image from a Dockerfile
    Build(crate::build::BuildArgs),
    /// List images
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Display detailed information on one or more images
    Inspect(ImageInspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Remove unused images
    Prune(ImagePruneArgs),
}

/// Options shared by `create` and `run`.
#[derive(Debug, Args, Default, Clone)]
pub struct ContainerOpts {
    /// Print usage
    #[arg(long = "help", action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = bool_flag!())]
    pub interactive: Option<bool>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = bool_flag!())]
    pub tty: Option<bool>,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach")]
    pub attach: Vec<String>,
    /// Assign a name to the container
    #[arg(long = "name")]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Container host name
    #[arg(short = 'h', long = "hostname")]
    pub hostname: Option<String>,
    /// Container NIS domain name
    #[arg(long = "domainname")]
    pub domainname: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long = "entrypoint")]
    pub entrypoint: Option<String>,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart")]
    pub restart: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file")]
    pub label_file: Vec<String>,
    /// Run an init inside the container
    #[arg(long = "init", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = bool_flag!())]
    pub init: Option<bool>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = bool_flag!())]
    pub read_only: Option<bool>,
    /// Give extended privileges to this container
    #[arg(long = "privileged", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = bool_flag!())]
    pub privileged: Option<bool>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Security Options
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Ulimit options
    #[arg(long = "ulimit")]
    pub ulimit: Vec<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory")]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Tune container memory swappiness (0 to 100)
    #[arg(long = "memory-swappiness", allow_hyphen_values = true)]
    pub memory_swappiness: Option<i64>,
    /// Kernel memory limit (ignored, like recent Docker)
    #[arg(long = "kernel-memory", hide = true)]
    pub kernel_memory: Option<String>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = bool_flag!())]
    pub oom_kill_disable: Option<bool>,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long = "cpus")]
    pub cpus: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Connect a container to a network
    #[arg(long = "network", alias = "net")]
    pub network: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = bool_flag!())]
    pub publish_all: Option<bool>,
    /// Expose a port or a range of ports
    #[arg(long = "expose")]
    pub expose: Vec<String>,
    /// Set custom DNS servers
    #[arg(long = "dns")]
    pub dns: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Add link to another container
    #[arg(long = "link")]
    pub link: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip")]
    pub ip: Option<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount")]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs")]
    pub tmpfs: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Optional volume driver for the container
    #[arg(long = "volume-driver")]
    pub volume_driver: Option<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", allow_hyphen_values = true)]
    pub stop_timeout: Option<i64>,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Add a host device to the container
    #[arg(long = "device")]
    pub device: Vec<String>,
    /// Sysctl options
    #[arg(long = "sysctl")]
    pub sysctl: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// PID namespace to use
    #[arg(long = "pid")]
    pub pid: Option<String>,
    /// IPC mode to use
    #[arg(long = "ipc")]
    pub ipc: Option<String>,
    /// UTS namespace to use
    #[arg(long = "uts")]
    pub uts: Option<String>,
    /// User namespace to use
    #[arg(long = "userns")]
    pub userns: Option<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long = "cgroupns")]
    pub cgroupns: Option<String>,
    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Runtime to use for this container
    #[arg(long = "runtime")]
    pub runtime: Option<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries")]
    pub health_retries: Option<i64>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Start period for the container to initialize before starting health-retries countdown
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period
    #[arg(long = "health-start-interval")]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = bool_flag!())]
    pub no_healthcheck: Option<bool>,
    /// Suppress the pull output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Pull image before creating ("always", "missing", "never")
    #[arg(long = "pull", default_value = "missing")]
    pub pull: String,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform")]
    pub platform: Option<String>,
    /// Write the container ID to the file
    #[arg(long = "cidfile")]
    pub cidfile: Option<String>,
    /// Image, then the command and its arguments (passed through untouched)
    #[arg(value_name = "IMAGE", required = true, num_args = 1.., trailing_var_arg = true)]
    pub image_and_cmd: Vec<String>,
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long = "detach", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = bool_flag!())]
    pub detach: Option<bool>,
    /// Automatically remove the container when it exits
    #[arg(long = "rm", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = bool_flag!())]
    pub rm: Option<bool>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = bool_flag!())]
    pub sig_proxy: Option<bool>,
    #[command(flatten)]
    pub opts: ContainerOpts,
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    /// Automatically remove the container when it exits
    #[arg(long = "rm", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = bool_flag!())]
    pub rm: Option<bool>,
    #[command(flatten)]
    pub opts: ContainerOpts,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long = "attach")]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long = "latest")]
    pub latest: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", allow_hyphen_values = true)]
    pub last: Option<i64>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Display total file sizes
    #[arg(short = 's', long = "size")]
    pub size: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format")]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
    /// Return JSON for specified type
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long = "size")]
    pub size: bool,
    #[arg(value_name = "NAME|ID", required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ContainerInspectArgs {
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
    #[arg(short = 's', long = "size")]
    pub size: bool,
    #[arg(value_name = "CONTAINER", required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImageInspectArgs {
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
    #[arg(value_name = "IMAGE", required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,
    /// Show timestamps
    #[arg(short = 't', long = "timestamps")]
    pub timestamps: bool,
    /// Show logs since timestamp or relative (e.g. 42m for 42 minutes)
    #[arg(long = "since")]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative (e.g. 42m for 42 minutes)
    #[arg(long = "until")]
    pub until: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(
        short = 'n',
        long = "tail",
        default_value = "all",
        allow_hyphen_values = true
    )]
    pub tail: String,
    /// Show extra details provided to logs
    #[arg(long = "details")]
    pub details: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        alias = "timeout",
        allow_hyphen_values = true
    )]
    pub time: Option<i64>,
    /// Signal to send to the container
    #[arg(short = 's', long = "signal")]
    pub signal: Option<String>,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal")]
    pub signal: Option<String>,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct IdsArgs {
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(short = 'l', long = "link")]
    pub link: bool,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Give extended privileges to the command
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Container, then the command and its arguments
    #[arg(value_name = "CONTAINER", required = true, num_args = 2.., trailing_var_arg = true)]
    pub container_and_cmd: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = bool_flag!())]
    pub sig_proxy: Option<bool>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// Container, then `ps` options
    #[arg(value_name = "CONTAINER", required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub container_and_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<i64>,
    #[arg(long = "cpu-rt-runtime")]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    #[arg(long = "cpus")]
    pub cpus: Option<String>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    #[arg(short = 'm', long = "memory")]
    pub memory: Option<String>,
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    #[arg(long = "restart")]
    pub restart: Option<String>,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long = "message")]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform")]
    pub platform: Option<String>,
    #[arg(value_name = "file|URL|-")]
    pub source: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show digests
    #[arg(long = "digests")]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format")]
    pub format: Option<String>,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template
    #[arg(long = "format")]
    pub format: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long = "since")]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long = "until")]
    pub until: Option<String>,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long = "human", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = bool_flag!())]
    pub human: Option<bool>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Format output using a custom template
    #[arg(long = "format")]
    pub format: Option<String>,
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform")]
    pub platform: Option<String>,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Format output using a custom template
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long = "author")]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long = "message")]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long = "pause", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = bool_flag!())]
    pub pause: Option<bool>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output")]
    pub output: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output")]
    pub output: Option<String>,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long = "input")]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long = "volumes")]
    pub volumes: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VolumeCreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long = "driver", default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long = "label")]
    pub label: Vec<String>,
    /// Specify volume name
    #[arg(long = "name")]
    pub name_flag: Option<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    #[arg(value_name = "VOLUME")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct VolumeLsArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct VolumePruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NamesFormatArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NamesForceArgs {
    /// Force the removal
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetworkCreateArgs {
    /// Enable manual container attachment
    #[arg(long = "attachable")]
    pub attachable: bool,
    /// Driver to manage the Network
    #[arg(short = 'd', long = "driver", default_value = "bridge")]
    pub driver: String,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long = "gateway")]
    pub gateway: Vec<String>,
    /// Restrict external access to the network
    #[arg(long = "internal")]
    pub internal: bool,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    pub ip_range: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", default_value = "default")]
    pub ipam_driver: String,
    /// Enable or disable IPv6 networking
    #[arg(long = "ipv6")]
    pub ipv6: bool,
    /// Set metadata on a network
    #[arg(long = "label")]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long = "subnet")]
    pub subnet: Vec<String>,
    #[arg(value_name = "NETWORK")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct NetworkLsArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct NetworkConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long = "alias")]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long = "ip")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long = "ip6")]
    pub ip6: Option<String>,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct NetworkDisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long = "archive")]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    #[arg(value_name = "SRC_PATH")]
    pub src: String,
    #[arg(value_name = "DEST_PATH")]
    pub dest: String,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    #[arg(value_name = "NAME[:TAG]")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long = "username")]
    pub username: Option<String>,
    /// Password or Personal Access Token (PAT)
    #[arg(short = 'p', long = "password")]
    pub password: Option<String>,
    /// Take the Password or Personal Access Token (PAT) from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}
