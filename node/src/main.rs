//! `mpc-node`: one party of a threshold-signing committee.
//!
//! Today: `init` (make a node's identity and files) and `check-config` (validate a config
//! against the files it names). `run` arrives with the node issue.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use node::config::Config;
use node::init::{init, InitArgs};

#[derive(Parser)]
#[command(name = "mpc-node", version, about = "A threshold-signing (MPC) wallet party node")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
}

fn check(path: &std::path::Path) -> Result<String, String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let identity = config.node.data_dir.join(node::init::IDENTITY_FILE);
    if !identity.exists() {
        return Err(format!("{}: no identity; run `mpc-node init` first", identity.display()));
    }
    let peer = network::p2p::peer_id(&identity).map_err(|e| e.to_string())?;
    let me =
        config.committee.iter().find(|m| m.party == config.node.party).map(|m| m.peer_id.clone()).unwrap_or_default();
    if me != peer {
        return Err(format!(
            "committee entry of party {} is {me}, but {} is {peer}",
            config.node.party,
            identity.display()
        ));
    }
    for f in [Some(&config.admin.token_file), config.vault.key_file.as_ref()].into_iter().flatten() {
        let p = config.in_data_dir(f);
        let meta = std::fs::metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        if std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077 != 0 {
            return Err(format!("{} is readable by others; chmod 600 it", p.display()));
        }
    }
    Ok(format!(
        "ok: party {} of {}, peer {peer}, listening on {}",
        config.node.party,
        config.committee.len(),
        config.network.listen
    ))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
