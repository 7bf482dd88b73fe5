//! `mpc-node`: one party of a threshold-signing committee.
//!
//! `init` makes a node's identity and files, `check-config` validates a config against the
//! files it names, `run` runs the node, `keys` manages its API keys, `import-primes` fills
//! the safe-prime pool offline.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use node::config::Config;
use node::init::{init, InitArgs};

#[derive(Parser)]
#[command(
    name = "mpc-node",
    version,
    about = "A threshold-signing (MPC) wallet party node",
    long_about = "A threshold-signing (MPC) wallet party node. Every member of a committee runs one; \
any t of n together generate keys and sign (FROST Ed25519, FROST secp256k1 Taproot, CGGMP24 ECDSA) \
without a coordinator and without any node holding a whole key.\n\n\
Start: `mpc-node init` for each member, put every member under [[committee]] in each config \
(see configs/node.example.toml), `mpc-node check-config`, then `mpc-node run`.\n\n\
Operate a running node with the client commands (info, peers, wallet, sign, transfer, tx, history, \
balance, audit, sessions, session, setup, call): point them at it with --node-config <its node.toml> \
(or MPC_NODE_CONFIG), or --node <host:port> with --token-file or MPC_TOKEN. They print tables, or \
the node's JSON with --json, and exit with the error's code: the node's -320NN as NN (e.g. 15: a \
ceremony failed), 64 a usage error, 65 a JSON-RPC protocol error, 69 the node unreachable.\n\n\
Logs go to stderr; set MPC_LOG to filter them (e.g. `info`, `debug`, `info,actors=debug`)."
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(flatten)]
    target: node::client::Target,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Client(node::client::commands::ClientCommand),
    /// Print a shell completion script: `mpc-node completions bash > /etc/bash_completion.d/mpc-node`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Create a node: identity key, vault key and admin token (mode 0600) in a new data
    /// directory; print the peer id and a config skeleton to fill in with the other members.
    Init {
        /// Data directory to create.
        #[arg(long)]
        data_dir: PathBuf,
        /// This node's party index in the committee.
        #[arg(long)]
        party: u16,
        /// Listen multiaddr for the party-to-party transport.
        #[arg(long, default_value = "/ip4/127.0.0.1/tcp/7000")]
        listen: String,
        /// Admin JSON-RPC address.
        #[arg(long, default_value = "127.0.0.1:8000")]
        admin: String,
        /// Prometheus metrics address.
        #[arg(long, default_value = "127.0.0.1:9000")]
        metrics: String,
    },
    /// Check a config: every field, and that the identity and key files it names exist, are
    /// private, and match the committee entry of this node.
    CheckConfig {
        /// The TOML config.
        #[arg(long)]
        config: PathBuf,
    },
    /// Run the node: the libp2p transport, the actor tree, the admin JSON-RPC and /metrics.
    /// Prints `ready admin=<addr> metrics=<addr>` once serving. Stops cleanly on SIGINT or
    /// SIGTERM; exits non-zero if it cannot start or its actor tree gives up. The RPC methods
    /// and error codes are listed in the README.
    Run {
        /// The TOML config.
        #[arg(long)]
        config: PathBuf,
    },
    /// Add safe-prime sets (a bincode file, as made by the `gen_primes` example) to the
    /// node's encrypted pool, for CGGMP24 committee setups. The node must not be running.
    ImportPrimes {
        /// The TOML config.
        #[arg(long)]
        config: PathBuf,
        /// The file of prime sets.
        #[arg(long)]
        file: PathBuf,
    },
    /// Manage the node's API keys (the file `admin.api_keys_file` names, stored hashed). A
    /// running node picks changes up within a second: no restart.
    Keys {
        /// The TOML config.
        #[arg(long)]
        config: PathBuf,
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Back a node up into one file sealed under a passphrase (Argon2id + ChaCha20-Poly1305),
    /// or restore one on a clean machine. The passphrase comes from an environment variable
    /// (default MPC_BACKUP_PASSPHRASE), never from the command line. A running node backs
    /// itself up through the `backup_create` RPC.
    Backup {
        /// Environment variable holding the backup passphrase (at least 12 characters).
        #[arg(long, default_value = node::backup::PASSPHRASE_ENV)]
        passphrase_env: String,
        #[command(subcommand)]
        action: BackupAction,
    },
    /// The journal's archive in PostgreSQL (the config's `[archive]` section).
    Archive {
        /// The TOML config.
        #[arg(long)]
        config: PathBuf,
        #[command(subcommand)]
        action: ArchiveAction,
    },
    /// Make this node's export credential (replacing any earlier one) and print it once. Only
    /// its SHA-256 is kept (`[export] credential_file`). `key_export` and `key_export_approve`
    /// need it besides an admin key, and work only with `[export] enabled = true`.
    ExportCredential {
        /// The TOML config.
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum ArchiveAction {
    /// Re-check the archived hash chain from the PostgreSQL rows alone: every hash recomputed
    /// from its row, chained from seq 1 with no gap, the JSON view matching the payload, the
    /// position naming the last row. Exits 1 naming the first broken entry.
    Verify {
        /// Whose rows (default: this config's source, `party-<index>`).
        #[arg(long)]
        source: Option<String>,
    },
}

#[derive(Subcommand)]
enum BackupAction {
    /// Back up a stopped node (its database, identity, keys and config) into `--out`.
    Create {
        /// The TOML config.
        #[arg(long)]
        config: PathBuf,
        /// The backup file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a backup: the passphrase, and that no byte was changed.
    Verify {
        /// The backup file.
        #[arg(long)]
        file: PathBuf,
    },
    /// Restore a backup into a new, empty data directory; prints the config to run it with.
    Restore {
        /// The backup file.
        #[arg(long)]
        file: PathBuf,
        /// Where the node's data goes (absent or empty).
        #[arg(long)]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Create a key and print its secret once (`mpck_...`); only its hash is kept.
    Create {
        /// Its name (logs, metrics, the journal).
        #[arg(long)]
        name: String,
        /// admin: everything; client: sign and transfer (and read its wallets).
        #[arg(long, value_enum, default_value_t = node::rpc::keys::Role::Client)]
        role: node::rpc::keys::Role,
        /// Restrict a key to this wallet (repeat for several; default: every wallet).
        #[arg(long = "wallet")]
        wallets: Vec<String>,
        /// Its own requests per minute (default: limits.per_key_per_min).
        #[arg(long)]
        per_minute: Option<u32>,
    },
    /// Revoke a key by name.
    Revoke {
        /// Its name.
        #[arg(long)]
        name: String,
    },
    /// List the keys (names, roles, wallets; never secrets).
    List,
}

fn init_logging(format: LogFormat) {
    let filter: tracing_subscriber::filter::Targets = std::env::var("MPC_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO));
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let registry = tracing_subscriber::registry().with(filter);
    // Colours only on a terminal: log files stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = match format {
        LogFormat::Text => {
            registry.with(tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(std::io::stderr)).try_init()
        }
        LogFormat::Json => {
            registry.with(tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr)).try_init()
        }
    };
}

fn run(path: &std::path::Path) -> Result<(), String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("mpc-node")
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    runtime.block_on(async move {
        let node = node::runtime::start(config).await.map_err(|e| e.to_string())?;
        // The ready line scripts wait for (also logged).
        println!("ready admin={} metrics={}", node.rpc_addr, node.metrics_addr);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| format!("signal handler: {e}"))?;
        let failed = tokio::select! {
            _ = tokio::signal::ctrl_c() => false,
            _ = term.recv() => false,
            _ = node.supervisor.wait(None) => true,
        };
        tracing::info!("stopping");
        node.stop().await;
        if failed {
            Err("the actor tree stopped; see the log above".into())
        } else {
            Ok(())
        }
    })
}

fn import_primes(config: &std::path::Path, file: &std::path::Path) -> Result<String, String> {
    let config = Config::load(config).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let sets: Vec<protocol::primes::SafePrimes> =
        protocol::envelope::decode_bounded(&bytes, 64 * 1024 * 1024).map_err(|e| format!("{}: {e}", file.display()))?;
    let available = node::runtime::import_primes(&config, &sets).map_err(|e| e.to_string())?;
    Ok(format!("added {} sets; {available} available", sets.len()))
}

fn check(path: &std::path::Path) -> Result<String, String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let peer = node::runtime::check_files(&config).map_err(|e| e.to_string())?;
    Ok(format!(
        "ok: party {} of {}, peer {peer}, listening on {}",
        config.node.party,
        config.committee.len(),
        config.network.listen
    ))
}

fn keys(config: &std::path::Path, action: KeysAction) -> Result<String, String> {
    use node::rpc::keys::{KeyFile, API_KEYS_FILE};
    let config = Config::load(config).map_err(|e| e.to_string())?;
    let default = std::path::PathBuf::from(API_KEYS_FILE);
    let path = config.in_data_dir(config.admin.api_keys_file.as_ref().unwrap_or(&default));
    let mut file = KeyFile::load(&path).map_err(|e| e.to_string())?;
    match action {
        KeysAction::Create { name, role, wallets, per_minute } => {
            let wallets = (!wallets.is_empty()).then_some(wallets);
            let secret = file.create(&name, role, wallets, per_minute)?;
            file.save(&path).map_err(|e| e.to_string())?;
            eprintln!("key {name} created in {}; its secret is shown once:", path.display());
            Ok(secret)
        }
        KeysAction::Revoke { name } => {
            if !file.revoke(&name) {
                return Err(format!("no key named {name} in {}", path.display()));
            }
            file.save(&path).map_err(|e| e.to_string())?;
            Ok(format!("key {name} revoked"))
        }
        KeysAction::List => {
            let mut out = format!("{:<24} {:<7} {:<10} wallets", "name", "role", "per_min");
            for k in &file.key {
                let role = if k.role == node::rpc::keys::Role::Admin { "admin" } else { "client" };
                let rate = k.per_minute.map_or("default".to_owned(), |r| r.to_string());
                let wallets = k.wallets.as_ref().map_or("all".to_owned(), |w| w.join(","));
                out.push_str(&format!("\n{:<24} {:<7} {:<10} {wallets}", k.name, role, rate));
            }
            Ok(out)
        }
    }
}

/// `archive verify`: (printed verdict, intact).
fn archive(config: &std::path::Path, action: ArchiveAction, json: bool) -> Result<(String, bool), String> {
    let config = Config::load(config).map_err(|e| e.to_string())?;
    let section = config.archive.clone().ok_or("the config has no [archive] section")?;
    let ArchiveAction::Verify { source } = action;
    let source = source.unwrap_or_else(|| node::archive::source(&section, config.node.party));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let client = node::archive::connect(&section).await.map_err(|e| e.to_string())?;
        let verdict = node::archive::verify::verify(&client, &source).await.map_err(|e| e.to_string())?;
        let intact = matches!(verdict, node::archive::verify::Verdict::Intact { .. });
        let text = match (&verdict, json) {
            (v, true) => v.to_json(&source).to_string(),
            (node::archive::verify::Verdict::Intact { entries, head }, false) => {
                format!("ok: {source}: {entries} entries chain from seq 1, head {}", hex::encode(head))
            }
            (node::archive::verify::Verdict::Broken { seq, reason }, false) => {
                format!("BROKEN: {source}: seq {seq}: {reason}")
            }
        };
        Ok((text, intact))
    })
}

fn backup(passphrase_env: &str, action: BackupAction) -> Result<String, String> {
    let passphrase = node::backup::passphrase(passphrase_env).map_err(|e| e.to_string())?;
    match action {
        BackupAction::Create { config, out } => {
            let config = Config::load(&config).map_err(|e| e.to_string())?;
            let db = store::db::Db::open(&config.node.data_dir.join("db"))
                .map_err(|e| format!("{e} (a running node backs itself up with the backup_create RPC)"))?;
            let (files, bytes) = node::backup::create(&config, &db, &passphrase, &out).map_err(|e| e.to_string())?;
            Ok(format!(
                "backup of party {} written to {}: {files} files, {bytes} bytes",
                config.node.party,
                out.display()
            ))
        }
        BackupAction::Verify { file } => {
            let archive = node::backup::open(&file, &passphrase).map_err(|e| e.to_string())?;
            Ok(format!("ok: party {}, made at {} ms, {} files", archive.party, archive.created_ms, archive.files.len()))
        }
        BackupAction::Restore { file, data_dir } => {
            let archive = node::backup::open(&file, &passphrase).map_err(|e| e.to_string())?;
            let data_dir = std::path::absolute(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
            let config = node::backup::restore(&archive, &data_dir).map_err(|e| e.to_string())?;
            Ok(format!(
                "restored party {} into {}; run: mpc-node run --config {}",
                archive.party,
                data_dir.display(),
                config.display()
            ))
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Client(command) => match node::client::commands::run(&cli.target, command) {
            Ok(out) => {
                println!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(e.exit_status())
            }
        },
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "mpc-node", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Run { config } => match run(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::ImportPrimes { config, file } => match import_primes(&config, &file) {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Init { data_dir, party, listen, admin, metrics } => {
            match init(&InitArgs { data_dir, party, listen, admin, metrics }) {
                Ok((peer, config)) => {
                    eprintln!("peer id: {peer}");
                    eprintln!("add every member to [[committee]] below, then: mpc-node check-config --config <file>");
                    match toml::to_string_pretty(&config) {
                        Ok(text) => {
                            print!("{text}");
                            ExitCode::SUCCESS
                        }
                        Err(e) => {
                            eprintln!("error: {e}");
                            ExitCode::FAILURE
                        }
                    }
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Keys { config, action } => match keys(&config, action) {
            Ok(out) => {
                println!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::ExportCredential { config } => {
            match Config::load(&config).map_err(|e| e.to_string()).and_then(|c| {
                node::export::create(&c)
                    .map_err(|e| format!("writing {}: {e}", node::export::credential_path(&c).display()))
            }) {
                Ok(credential) => {
                    println!("{credential}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Archive { config, action } => match archive(&config, action, cli.target.json) {
            Ok((out, intact)) => {
                println!("{out}");
                if intact {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Backup { passphrase_env, action } => match backup(&passphrase_env, action) {
            Ok(out) => {
                println!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::CheckConfig { config } => match check(&config) {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
    }
}
